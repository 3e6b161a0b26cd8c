"""The LSTM recurrence with per-sample masks, as one autograd function: the fast step loop.

Per-sample masks on h_{t-1} (variational, naive) and on c_t (Moon) keep the fused kernel out, so the
recurrence has to be a loop. Left to autograd, that loop records ~40 small nodes per step and computes
the gradient of U as T small GEMMs. Here the forward keeps only what the backward needs, the backward
walks the steps once, and the gradient of U is a single (gates·H × T·B) · (T·B × H) GEMM after the loop.

Input projections (x W_ih^T + both biases) are computed by the caller in one GEMM for all steps, so this
function only sees the part that must be sequential. `RecurrentLayer.loop` is the reference it is
tested against (same masks → same outputs and gradients).
"""

from __future__ import annotations

import torch

from rnnreg.dropout import at_step


class MaskedLSTMRecurrence(torch.autograd.Function):
    """xproj (T, B, 4H) with both biases added; h0, c0 (B, H); weight_hh (4H, H).

    recurrent_mask: (1|4, B|1, T|1, H) or None; cell_mask: (1, B|1, T|1, H) or None.
    Returns outputs (T, B, H), h_T, c_T.
    """

    @staticmethod
    def forward(ctx, xproj, h0, c0, weight_hh, recurrent_mask, cell_mask):
        steps, batch, four_h = xproj.shape
        H = four_h // 4
        untied = recurrent_mask is not None and recurrent_mask.shape[0] == 4
        w_t = weight_hh.t()  # (H, 4H)
        w_gates = weight_hh.view(4, H, H).transpose(1, 2) if untied else None  # (4, H, H): gate g's U^T
        gates = xproj.new_empty(steps, batch, four_h)  # activated i, f, g, o
        cells = xproj.new_empty(steps + 1, batch, H)  # c_0 .. c_T (after the cell mask)
        masked_h = xproj.new_empty(steps, 4 if untied else 1, batch, H)  # what met U at each step
        outputs = xproj.new_empty(steps, batch, H)
        h, c = h0, c0
        cells[0] = c0
        for t in range(steps):
            m = at_step(recurrent_mask, t)
            if untied:
                torch.mul(h.unsqueeze(0), m, out=masked_h[t])
                a = xproj[t] + torch.bmm(masked_h[t], w_gates).transpose(0, 1).reshape(batch, four_h)
            else:
                hm = masked_h[t, 0]
                if m is None:
                    hm.copy_(h)
                else:
                    torch.mul(h, m[0], out=hm)
                a = torch.addmm(xproj[t], hm, w_t)
            act = gates[t]
            torch.sigmoid(a, out=act)
            torch.tanh(a[:, 2 * H:3 * H], out=act[:, 2 * H:3 * H])
            i, f, g, o = act.split(H, 1)
            # Results go straight into the saved buffers: no copies on the way.
            c = torch.addcmul(f * c, i, g, out=cells[t + 1])
            k = at_step(cell_mask, t)
            if k is not None:
                c.mul_(k[0])
            h = torch.mul(o, torch.tanh(c), out=outputs[t])
        ctx.save_for_backward(gates, cells, masked_h, weight_hh, recurrent_mask, cell_mask)
        ctx.untied = untied
        # The final state is returned as its own tensors, not as views into the saved buffers.
        return outputs, h.clone(), c.clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_h_last, grad_c_last):
        gates, cells, masked_h, weight_hh, recurrent_mask, cell_mask = ctx.saved_tensors
        steps, batch, four_h = gates.shape
        H = four_h // 4
        untied = ctx.untied
        w_gates = weight_hh.view(4, H, H) if untied else None
        grad_pre = torch.empty_like(gates)  # d loss / d (pre-activation gates), all steps
        dh = grad_h_last.clone() if grad_h_last is not None else gates.new_zeros(batch, H)
        dc = grad_c_last.clone() if grad_c_last is not None else gates.new_zeros(batch, H)
        for t in range(steps - 1, -1, -1):
            if grad_outputs is not None:
                dh = dh + grad_outputs[t]
            i, f, g, o = gates[t].split(H, 1)
            c = cells[t + 1]
            tc = torch.tanh(c)
            dc = torch.addcmul(dc, dh * o, 1 - tc * tc)
            k = at_step(cell_mask, t)
            if k is not None:
                dc = dc * k[0]
            da = grad_pre[t]
            da_i, da_f, da_g, da_o = da.split(H, 1)
            torch.mul(dc * g, i * (1 - i), out=da_i)
            torch.mul(dc * cells[t], f * (1 - f), out=da_f)
            torch.mul(dc * i, 1 - g * g, out=da_g)
            torch.mul(dh * tc, o * (1 - o), out=da_o)
            dc = dc * f
            m = at_step(recurrent_mask, t)
            if untied:
                per_gate = torch.bmm(da.view(batch, 4, H).transpose(0, 1), w_gates)  # (4, B, H)
                dh = (per_gate * m).sum(0)
            else:
                dh = da @ weight_hh
                if m is not None:
                    dh = dh * m[0]
        # The gradient of U for all steps at once.
        if untied:
            da_by_gate = grad_pre.view(steps * batch, 4, H).transpose(0, 1)  # (4, TB, H)
            hm_by_gate = masked_h.transpose(0, 1).reshape(4, steps * batch, H)
            grad_w = torch.bmm(da_by_gate.transpose(1, 2), hm_by_gate).reshape(four_h, H)
        else:
            grad_w = grad_pre.reshape(steps * batch, four_h).t() @ masked_h.reshape(steps * batch, H)
        return grad_pre, dh, dc, grad_w, None, None
