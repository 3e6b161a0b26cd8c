"""The LSTM and GRU recurrences with per-sample masks, each as one autograd function: the fast step loops.

Per-sample masks on h_{t-1} (variational, naive), on c_t (Moon), on the candidate (Semeniuta) and
zoneout's state updates keep the fused kernel out, so the recurrence has to be a loop. Left to autograd,
that loop records ~40 small nodes per step and computes
the gradient of U as T small GEMMs. Here:
  - the step GEMM h_{t-1} U^T (and dh U in the backward) runs on a weight packed once per call for
    oneDNN, where torch has it and the weight is large: at batch 20 a (20 × 650)·(650 × 2600) product
    took ~350 µs packed against ~600 µs through torch.mm on the development machine;
  - the forward keeps only what the backward needs, written straight into preallocated buffers;
  - the backward computes every local derivative for all steps at once, so the sequential part is
    six small ops and one GEMM per step; the gradient of U is one (gates·H × T·B)·(T·B × H) GEMM.

Input projections (x W_ih^T + both biases) are computed by the caller in one GEMM for all steps, so this
function only sees the part that must be sequential. `RecurrentLayer.loop` is the reference both are
tested against (same masks → same outputs and gradients).
"""

from __future__ import annotations

import os

import torch

from rnnreg.masks import at_step


def _onednn_linear_available() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    except (AttributeError, RuntimeError):
        return False


# RNNREG_ONEDNN=0 runs the step GEMM on torch.mm (to measure what packing buys, or to rule it out);
# the tests run both paths.
ONEDNN_AVAILABLE = _onednn_linear_available()
USE_ONEDNN = ONEDNN_AVAILABLE and os.environ.get("RNNREG_ONEDNN", "1") != "0"


# Packing pays off only for weights that do not fit in cache: measured on the 2-core development machine
# (LSTM, batch 20, forward + backward of 35 steps), oneDNN is slower below H ≈ 500 (64: 3.7 vs 2.3 ms;
# 200: 9.6 vs 7.1 ms), even at 500, and faster above (560: 41 vs 49 ms; 800: 82 vs 136; 1500: 344 vs 492).
PACK_MIN_NUMEL = 2**20  # 4 MiB of float32: an LSTM with H ≥ 512, a GRU with H ≥ 592


class StepGEMM:
    """x ↦ x Wᵀ for one weight reused at every step: packed for oneDNN on CPU float32 when the weight is
    large enough to gain from it, else torch.mm. `onednn=True` packs whatever the size (where available)."""

    def __init__(self, weight: torch.Tensor, batch: int, onednn: bool | None = None):
        self.weight = weight
        self.packed = None
        if onednn is None:
            onednn = USE_ONEDNN and weight.numel() >= PACK_MIN_NUMEL
        if onednn and ONEDNN_AVAILABLE and weight.device.type == "cpu" and weight.dtype == torch.float32:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), batch)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], "")
        return x @ self.weight.t()


class MaskedProduct:
    """The product both loops take at every step, (h_{t-1} ⊙ m_t) Uᵀ, its backward dh = (da U) ⊙ m_t, and
    the gradient of U for the whole window. A tied mask (or none) is one StepGEMM per step; an untied
    mask, one per gate, is a batched GEMM over the gates.

    weight_hh (G·H, H); recurrent_mask (1|G, B|1, T|1, H) or None. `backward=True` builds the backward's
    product (the weight then meets da from the other side)."""

    def __init__(self, weight_hh: torch.Tensor, recurrent_mask: torch.Tensor | None, batch: int,
                 backward: bool = False):
        self.H = weight_hh.shape[1]
        self.gates = weight_hh.shape[0] // self.H
        self.mask = recurrent_mask
        self.untied = recurrent_mask is not None and recurrent_mask.shape[0] > 1
        if self.untied:
            by_gate = weight_hh.view(self.gates, self.H, self.H)  # gate g's U
            self.by_gate = by_gate if backward else by_gate.transpose(1, 2)
        else:
            self.gemm = StepGEMM(weight_hh.t() if backward else weight_hh, batch)

    def new_masked_h(self, like: torch.Tensor, steps: int) -> torch.Tensor | None:
        """Where the forward keeps what met U at each step; None without a mask (that is h_{t-1} itself)."""
        if self.mask is None:
            return None
        return like.new_empty(steps, self.gates if self.untied else 1, like.shape[1], self.H)

    def forward(self, t: int, h: torch.Tensor, masked_h: torch.Tensor | None) -> torch.Tensor:
        """(B, G·H), a fresh tensor the caller may add into."""
        m = at_step(self.mask, t)
        if self.untied:
            assert m is not None and masked_h is not None  # untied means a mask, and new_masked_h kept room
            torch.mul(h.unsqueeze(0), m, out=masked_h[t])
            return torch.bmm(masked_h[t], self.by_gate).transpose(0, 1).reshape(h.shape[0], -1)
        if m is not None:
            assert masked_h is not None
            h = torch.mul(h, m[0], out=masked_h[t, 0])
        return self.gemm(h)

    def backward(self, t: int, grad: torch.Tensor, unmasked: torch.Tensor | None = None) -> torch.Tensor:
        """dh_{t-1} through U from the (B, G·H) gradient at step t, a fresh tensor. With `unmasked` (T, B, H),
        also keeps the product before the mask, d(h ⊙ m) at step t, from which the mask's gradient follows."""
        m = at_step(self.mask, t)
        if self.untied:
            assert m is not None and unmasked is None  # a learned rate is shared by the gates (SiteRule)
            per_gate = torch.bmm(grad.view(grad.shape[0], self.gates, self.H).transpose(0, 1), self.by_gate)
            return (per_gate * m).sum(0)
        dh = self.gemm(grad)
        if unmasked is not None:
            unmasked[t].copy_(dh)
        return dh if m is None else dh.mul_(m[0])

    def mask_grad(self, unmasked: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        """d loss / d m, in the mask's own shape (1, B|1, T|1, H): Σ over what the mask shares of
        h_{t-1} ⊙ d(h ⊙ m)_t. Only a learned rate (Concrete dropout) asks for it."""
        assert self.mask is not None
        return (unmasked * h_prev).transpose(0, 1).unsqueeze(0).sum_to_size(self.mask.shape)

    def weight_grad(self, grad: torch.Tensor, masked_h: torch.Tensor | None, h_prev: torch.Tensor) -> torch.Tensor:
        """dU for all steps at once from grad (T, B, G·H): one GEMM, or one per gate when untied.
        `h_prev` (T, B, H) holds h_0 .. h_{T-1}, which met U where there is no mask."""
        rows = grad.shape[0] * grad.shape[1]
        if self.untied:
            assert masked_h is not None
            grad_by_gate = grad.view(rows, self.gates, self.H).transpose(0, 1)  # (G, TB, H)
            h_by_gate = masked_h.transpose(0, 1).reshape(self.gates, rows, self.H)
            return torch.bmm(grad_by_gate.transpose(1, 2), h_by_gate).reshape(self.gates * self.H, self.H)
        h_in = masked_h[:, 0] if masked_h is not None else h_prev
        return grad.reshape(rows, -1).t() @ h_in.reshape(rows, self.H)


class MaskedLSTMRecurrence(torch.autograd.Function):
    """xproj (T, B, 4H) with both biases added; h0, c0 (B, H); weight_hh (4H, H).

    recurrent_mask: (1|4, B|1, T|1, H) or None; cell_mask, candidate_mask, cell_zoneout, hidden_zoneout:
    (1, B|1, T|1, H) or None. One step, with u the zoneout masks (1 = take the new value):
        g' = g ⊙ k                      (candidate dropout, Semeniuta et al.)
        c̃ = (f ⊙ c_{t-1} + i ⊙ g') ⊙ m   (cell dropout, Moon et al.)
        h̃ = o ⊙ tanh(c̃)
        c_t = c_{t-1} + u_c ⊙ (c̃ − c_{t-1}),   h_t = h_{t-1} + u_h ⊙ (h̃ − h_{t-1})   (zoneout)
    Returns outputs (T, B, H), h_T, c_T.
    """

    @staticmethod
    def forward(ctx, xproj, h0, c0, weight_hh, recurrent_mask, cell_mask, candidate_mask=None, cell_zoneout=None,
                hidden_zoneout=None):
        steps, batch, four_h = xproj.shape
        H = four_h // 4
        product = MaskedProduct(weight_hh, recurrent_mask, batch)
        gates = xproj.new_empty(steps, batch, four_h)  # activated i, f, g, o
        cells = xproj.new_empty(steps + 1, batch, H)  # c_0 .. c_T (the carried state)
        tanh_cells = xproj.new_empty(steps, batch, H)  # tanh(c̃_t)
        states = xproj.new_empty(steps + 1, batch, H)  # h_0 .. h_T: the backward reads h_{t-1} from it
        states[0] = h0
        outputs = states[1:]
        masked_h = product.new_masked_h(xproj, steps)
        # Without cell zoneout c̃_t is c_t, written straight into `cells`; with it, c̃_t is a scratch value.
        new_cell = xproj.new_empty(batch, H) if cell_zoneout is not None else None
        h = h0
        cells[0] = c0
        for t in range(steps):
            a = product.forward(t, h, masked_h).add_(xproj[t])
            act = gates[t]
            torch.sigmoid(a, out=act)
            torch.tanh(a[:, 2 * H:3 * H], out=act[:, 2 * H:3 * H])
            i, f, g, o = act.split(H, 1)
            k = at_step(candidate_mask, t)
            # Results go straight into the saved buffers: no copies on the way.
            c = torch.mul(f, cells[t], out=cells[t + 1] if new_cell is None else new_cell)
            c.addcmul_(i, g if k is None else g * k[0])
            m = at_step(cell_mask, t)
            if m is not None:
                c.mul_(m[0])
            u_c, u_h = at_step(cell_zoneout, t), at_step(hidden_zoneout, t)
            if u_c is not None:
                torch.addcmul(cells[t], u_c[0], c - cells[t], out=cells[t + 1])
            if u_h is None:
                h = torch.mul(o, torch.tanh(c, out=tanh_cells[t]), out=outputs[t])
            else:
                new_h = o * torch.tanh(c, out=tanh_cells[t])
                h = torch.addcmul(h, u_h[0], new_h - h, out=outputs[t])
        ctx.save_for_backward(gates, cells, tanh_cells, masked_h, states, weight_hh, recurrent_mask, cell_mask,
                              candidate_mask, cell_zoneout, hidden_zoneout)
        # The final state is returned as its own tensors, not as views into the saved buffers.
        return outputs, h.clone(), cells[steps].clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_h_last, grad_c_last):
        (gates, cells, tanh_cells, masked_h, states, weight_hh, recurrent_mask, cell_mask,
         candidate_mask, cell_zoneout, hidden_zoneout) = ctx.saved_tensors
        steps, batch, four_h = gates.shape
        H = four_h // 4

        # Local derivatives for all steps at once (one large op each instead of T small ones), with g' = g ⊙ k:
        #   d a_i = dc̃ · g' σ'(i)   d a_f = dc̃ · c_{t-1} σ'(f)   d a_g = dc̃ · i k tanh'(g)   d a_o = dh̃ · tanh(c̃) σ'(o)
        # and dc̃ += dh̃ · o tanh'(c̃).
        i, f, g, o = gates.split(H, 2)
        local = torch.empty_like(gates)
        l_i, l_f, l_g, l_o = local.split(H, 2)
        if candidate_mask is None:
            torch.mul(g, i - i * i, out=l_i)
            torch.mul(i, 1 - g * g, out=l_g)
        else:
            k = candidate_mask[0].transpose(0, 1)  # (T|1, B|1, H)
            torch.mul(g * k, i - i * i, out=l_i)
            torch.mul(i * k, 1 - g * g, out=l_g)
        torch.mul(cells[:-1], f - f * f, out=l_f)
        torch.mul(tanh_cells, o - o * o, out=l_o)
        dc_from_dh = o * (1 - tanh_cells * tanh_cells)
        local_cg = local.view(steps, batch, 4, H)[:, :, :3]  # the three gates whose gradient flows via dc

        product = MaskedProduct(weight_hh, recurrent_mask, batch, backward=True)
        # A learned recurrent rate needs d loss / d m: keep the product before the mask at every step.
        unmasked = gates.new_empty(steps, batch, H) if ctx.needs_input_grad[4] else None
        grad_pre = torch.empty_like(gates)  # d loss / d (pre-activation gates), all steps
        grad_pre_cg = grad_pre.view(steps, batch, 4, H)[:, :, :3]
        dh = grad_h_last.clone() if grad_h_last is not None else gates.new_zeros(batch, H)
        dc = grad_c_last.clone() if grad_c_last is not None else gates.new_zeros(batch, H)
        for t in range(steps - 1, -1, -1):
            if grad_outputs is not None:
                dh.add_(grad_outputs[t])
            u_c, u_h = at_step(cell_zoneout, t), at_step(hidden_zoneout, t)
            dh_new = dh if u_h is None else dh * u_h[0]  # d h̃
            if u_c is None:
                dc.addcmul_(dh_new, dc_from_dh[t])  # dc̃ = dc_t + dh̃ · o tanh'(c̃)
                dc_kept = None
            else:
                dc_kept = dc - dc * u_c[0]  # the part of dc_t that reaches c_{t-1} directly
                dc = torch.addcmul(dc * u_c[0], dh_new, dc_from_dh[t])
            m = at_step(cell_mask, t)
            if m is not None:
                dc.mul_(m[0])
            torch.mul(dc.unsqueeze(1), local_cg[t], out=grad_pre_cg[t])
            torch.mul(dh_new, l_o[t], out=grad_pre[t, :, 3 * H:])
            dc.mul_(f[t])
            if dc_kept is not None:
                dc.add_(dc_kept)
            dh_through_u = product.backward(t, grad_pre[t], unmasked)
            dh = dh_through_u if u_h is None else dh_through_u.add_(dh - dh_new)
        grad_w = product.weight_grad(grad_pre, masked_h, states[:-1])
        grad_mask = None if unmasked is None else product.mask_grad(unmasked, states[:-1])
        return grad_pre, dh, dc, grad_w, grad_mask, None, None, None, None


class MaskedGRURecurrence(torch.autograd.Function):
    """The GRU of torch.nn.GRU with a recurrent mask on the h_{t-1} that meets U (the carried h is unmasked):
        r, z = σ(x_r + (h⊙m) U_r + b_hr), σ(x_z + (h⊙m) U_z + b_hz)
        n = tanh(x_n + r ⊙ ((h⊙m) U_n + b_hn)),   h̃ = (1 − z) ⊙ (n ⊙ k) + z ⊙ h
        h' = h + u ⊙ (h̃ − h)
    with k the candidate mask (Semeniuta et al.) and u hidden zoneout's (1 = take the new value).

    xproj (T, B, 3H) holds x W_ih^T + b_ih + (b_hr, b_hz, 0); b_hn stays inside, since r multiplies it.

    This is torch's (and cuDNN's) candidate, r ⊙ ((h⊙m) U_n + b_hn), which the fused kernel computes.
    Gal's Keras GRU computes (r ⊙ h ⊙ m) U_n instead (reset before the product): the two are different
    models, so GRU numbers from rnnreg and from Gal's scripts are not directly comparable.
    h0 (B, H); weight_hh (3H, H); bias_hn (H,); recurrent_mask (1|3, B|1, T|1, H) or None;
    candidate_mask, hidden_zoneout (1, B|1, T|1, H) or None. Returns outputs (T, B, H), h_T.
    """

    @staticmethod
    def forward(ctx, xproj, h0, weight_hh, bias_hn, recurrent_mask, candidate_mask=None, hidden_zoneout=None):
        steps, batch, three_h = xproj.shape
        H = three_h // 3
        product = MaskedProduct(weight_hh, recurrent_mask, batch)
        gates = xproj.new_empty(steps, batch, three_h)  # activated r, z, n (n before the candidate mask)
        hn = xproj.new_empty(steps, batch, H)  # (h⊙m) U_n + b_hn, which r scales
        states = xproj.new_empty(steps + 1, batch, H)  # h_0 .. h_T: the backward reads h_{t-1} from it
        states[0] = h0
        outputs = states[1:]
        masked_h = product.new_masked_h(xproj, steps)
        h = h0
        for t in range(steps):
            hproj = product.forward(t, h, masked_h)
            rz = torch.add(xproj[t, :, :2 * H], hproj[:, :2 * H], out=gates[t, :, :2 * H]).sigmoid_()
            r, z = rz.split(H, 1)
            torch.add(hproj[:, 2 * H:], bias_hn, out=hn[t])
            n = torch.addcmul(xproj[t, :, 2 * H:], r, hn[t], out=gates[t, :, 2 * H:]).tanh_()
            k, u = at_step(candidate_mask, t), at_step(hidden_zoneout, t)
            if k is not None:
                n = n * k[0]
            if u is None:
                h = torch.addcmul(n, z, h - n, out=outputs[t])
            else:
                h = torch.addcmul(h, u[0], torch.addcmul(n, z, h - n) - h, out=outputs[t])
        ctx.save_for_backward(gates, hn, masked_h, states, weight_hh, recurrent_mask, candidate_mask, hidden_zoneout)
        return outputs, h.clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_h_last):
        gates, hn, masked_h, states, weight_hh, recurrent_mask, candidate_mask, hidden_zoneout = ctx.saved_tensors
        steps, batch, three_h = gates.shape
        H = three_h // 3
        h_prev = states[:-1]

        # Local derivatives for all steps at once: with n' = n ⊙ k and dn = dh̃ (1 − z) k tanh'(n),
        #   d a_n = dn,   d a_r = dn · hn σ'(r),   d a_z = dh̃ · (h_{t-1} − n') σ'(z),   d hn = dn · r.
        r, z, n = gates.split(H, 2)
        to_n = (1 - z) * (1 - n * n)
        if candidate_mask is not None:
            k = candidate_mask[0].transpose(0, 1)  # (T|1, B|1, H)
            to_n, n = to_n * k, n * k
        to_r = hn * (r - r * r)
        to_z = (h_prev - n) * (z - z * z)

        product = MaskedProduct(weight_hh, recurrent_mask, batch, backward=True)
        unmasked = gates.new_empty(steps, batch, H) if ctx.needs_input_grad[4] else None  # learned rate
        grad_hproj = torch.empty_like(gates)  # d loss / d (h⊙m) U + b_hh, all steps
        # d loss / d xproj: r's and z's parts are grad_hproj's (copied after the loop), n's is d a_n
        grad_xproj = torch.empty_like(gates)
        grad_n = grad_xproj[:, :, 2 * H:]
        dh = grad_h_last.clone() if grad_h_last is not None else gates.new_zeros(batch, H)
        for t in range(steps - 1, -1, -1):
            if grad_outputs is not None:
                dh.add_(grad_outputs[t])
            u = at_step(hidden_zoneout, t)
            dh_new = dh if u is None else dh * u[0]  # d h̃
            dn = torch.mul(dh_new, to_n[t], out=grad_n[t])
            torch.mul(dn, to_r[t], out=grad_hproj[t, :, :H])
            torch.mul(dh_new, to_z[t], out=grad_hproj[t, :, H:2 * H])
            torch.mul(dn, r[t], out=grad_hproj[t, :, 2 * H:])
            # plus the carried paths: h̃ = … + z ⊙ h, and with zoneout h' = … + (1 − u) ⊙ h
            dh_through_u = product.backward(t, grad_hproj[t], unmasked).addcmul_(dh_new, z[t])
            dh = dh_through_u if u is None else dh_through_u.add_(dh - dh_new)
        grad_w = product.weight_grad(grad_hproj, masked_h, h_prev)
        grad_xproj[:, :, :2 * H] = grad_hproj[:, :, :2 * H]
        grad_bias_hn = grad_hproj[:, :, 2 * H:].sum((0, 1))
        grad_mask = None if unmasked is None else product.mask_grad(unmasked, h_prev)
        return grad_xproj, dh, grad_w, grad_bias_hn, grad_mask, None, None
