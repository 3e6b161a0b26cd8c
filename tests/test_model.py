"""Without masks the cells are torch.nn.LSTM / torch.nn.GRU; the step loop and the fused path agree."""

import pytest
import torch
from torch import nn

from rnnreg import fastloop
from rnnreg.dropout import SiteRule
from rnnreg.model import Masks, RecurrentLayer, RNNModel, sample_masks

ATOL = 1e-5


def reference_and_ours(cell, input_size=7, hidden=11, layers=2):
    kernel = nn.LSTM if cell == "lstm" else nn.GRU
    ref = kernel(input_size, hidden, num_layers=layers, batch_first=True)
    ours = nn.ModuleList(RecurrentLayer(cell, input_size if k == 0 else hidden, hidden) for k in range(layers))
    with torch.no_grad():
        for k, layer in enumerate(ours):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(layer.rnn, f"{name}_l0").copy_(getattr(ref, f"{name}_l{k}"))
    return ref, ours


def run_stack(layers, x, state, force_loop):
    new_state = []
    for k, layer in enumerate(layers):
        s = None if state is None else (
            (state[0][k : k + 1], state[1][k : k + 1]) if isinstance(state, tuple) else state[k : k + 1])
        x, s = layer(x, s, force_loop=force_loop)
        new_state.append(s)
    return x, new_state


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("force_loop", [True, False], ids=["loop", "fused"])
def test_matches_torch_outputs_and_gradients(cell, force_loop):
    ref, ours = reference_and_ours(cell)
    x = torch.randn(3, 9, 7)
    h0 = torch.randn(2, 3, 11)
    state = (h0, torch.randn(2, 3, 11)) if cell == "lstm" else h0

    ref_out, ref_state = ref(x, state)
    out, our_state = run_stack(ours, x, state, force_loop)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    final_h = torch.cat([s[0] if cell == "lstm" else s for s in our_state])
    torch.testing.assert_close(final_h, ref_state[0] if cell == "lstm" else ref_state, atol=ATOL, rtol=0)

    (ref_out.square().sum() + (ref_state[1].sum() if cell == "lstm" else 0)).backward()
    (out.square().sum() + (torch.cat([s[1] for s in our_state]).sum() if cell == "lstm" else 0)).backward()
    for k, layer in enumerate(ours):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            torch.testing.assert_close(getattr(layer.rnn, f"{name}_l0").grad, getattr(ref, f"{name}_l{k}").grad,
                                       atol=ATOL, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("untied", [False, True])
def test_fused_batch_masks_equal_the_loop(cell, untied):
    """A batch-shared mask on h folded into U's columns gives the loop's outputs and gradients."""
    layer = RecurrentLayer(cell, 5, 6)
    gates = 4 if cell == "lstm" else 3
    rule = SiteRule(0.4, per="sequence", per_gate=untied, scope="batch")
    tokens = torch.zeros(4, 8, dtype=torch.long)
    masks = sample_masks({"input": rule, "recurrent": rule}, tokens, vocab_size=1, cell=cell,
                         input_size=5, hidden_size=6, num_layers=1)
    assert masks.recurrent[0].shape == (gates if untied else 1, 1, 1, 6)
    x = torch.randn(4, 8, 5)
    assert layer.fused_can_run(masks.input[0], masks.recurrent[0], None)
    grads = []
    for force_loop in (False, True):
        layer.zero_grad()
        out, _ = layer(x, None, masks.input[0], masks.recurrent[0], force_loop=force_loop)
        out.sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in layer.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=ATOL, rtol=0)
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_recurrent_mask_of_zeros_cuts_the_recurrence():
    """With every unit of h_{t-1} dropped, each step sees a zero state: outputs equal step-by-step runs."""
    layer = RecurrentLayer("lstm", 3, 4)
    x = torch.randn(2, 5, 3)
    zero = torch.zeros(1, 2, 1, 4)
    out, _ = layer(x, None, recurrent_mask=zero)
    for t in range(5):
        alone, _ = layer(x[:, t : t + 1], None)
        # the cell state still carries over, so only the first step is fully independent
        if t == 0:
            torch.testing.assert_close(out[:, 0], alone[:, 0])
    # and h_{t-1} really is ignored: changing the initial h changes nothing
    h0 = torch.randn(1, 2, 4)
    out2, _ = layer(x, (h0, torch.zeros(1, 2, 4)), recurrent_mask=zero)
    torch.testing.assert_close(out, out2)


def test_moon_cell_mask_applies_inside_the_recurrence():
    layer = RecurrentLayer("lstm", 3, 4)
    x = torch.randn(1, 3, 3)
    mask = torch.tensor([2.0, 0.0, 2.0, 0.0]).view(1, 1, 1, 4)
    out, (h, c) = layer(x, None, cell_mask=mask)
    # c_t = m ⊙ (f ⊙ c_{t-1} + i ⊙ g): dropped units of c are exactly zero, and so is their h
    assert torch.all(c[0, 0, [1, 3]] == 0)
    assert torch.all(out[0, :, [1, 3]] == 0)
    # recompute by hand
    w_ih, w_hh, b = layer.rnn.weight_ih_l0, layer.rnn.weight_hh_l0, layer.rnn.bias_ih_l0 + layer.rnn.bias_hh_l0
    hh, cc = torch.zeros(4), torch.zeros(4)
    for t in range(3):
        i, f, g, o = (w_ih @ x[0, t] + w_hh @ hh + b).chunk(4)
        cc = mask.view(4) * (torch.sigmoid(f) * cc + torch.sigmoid(i) * torch.tanh(g))
        hh = torch.sigmoid(o) * torch.tanh(cc)
        torch.testing.assert_close(out[0, t], hh)


def moon_trajectory(layer, x, mask, kappa):
    """Hand-written RNNDrop step: c_t = m ⊙ (f ⊙ c_{t-1} + i ⊙ g), h_t = κ · o ⊙ tanh(c_t)."""
    w_ih, w_hh, b = layer.rnn.weight_ih_l0, layer.rnn.weight_hh_l0, layer.rnn.bias_ih_l0 + layer.rnn.bias_hh_l0
    h, c = torch.zeros(w_hh.shape[1]), torch.zeros(w_hh.shape[1])
    for t in range(x.shape[1]):
        i, f, g, o = (w_ih @ x[0, t] + w_hh @ h + b).chunk(4)
        c = mask * (torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g))
        h = kappa * torch.sigmoid(o) * torch.tanh(c)
    return h, c


@torch.no_grad()
def test_moon_scaled_on_h_keeps_the_expected_cell_of_the_deterministic_one():
    """A 0/1 per-sequence cell mask with 1/(1-p) on h: a kept cell runs exactly as without dropout, so the
    mean over masks of h_T is the deterministic h_T; the inverted mask inside the recurrence (rnnreg ≤ 0.3)
    scales a kept cell by 1/(1-p) at every step instead, and with forget gates near 1 it compounds."""
    torch.manual_seed(0)
    p, steps = 0.5, 12
    layer = RecurrentLayer("lstm", 3, 4)
    layer.rnn.weight_hh_l0.zero_()  # gates depend on x alone, so the expectation is exact
    layer.rnn.bias_ih_l0[4:8] = 6.0  # forget gates ≈ 1
    x = torch.randn(1, steps, 3)
    det_out, (det_h, det_c) = layer(x, None)
    rule = SiteRule(p, per="sequence", scale="output")
    masks = sample_masks({"cell": rule}, torch.zeros(1, steps, dtype=torch.long), vocab_size=1, cell="lstm",
                         input_size=3, hidden_size=4, num_layers=1)
    assert set(masks.cell[0].unique().tolist()) <= {0.0, 1.0} and masks.cell_output_scale == 1 / (1 - p)
    kept_h, kept_c = moon_trajectory(layer, x, torch.ones(4), 1 / (1 - p))
    dropped_h, _ = moon_trajectory(layer, x, torch.zeros(4), 1 / (1 - p))
    torch.testing.assert_close(kept_c, det_c[0, 0])  # a kept cell is the deterministic cell
    torch.testing.assert_close((1 - p) * kept_h + p * dropped_h, det_h[0, 0])  # E_m[h_T] = deterministic h_T
    # The layer computes exactly the hand-written step, on the fast loop and on the reference loop.
    ones = torch.ones(1, 1, 1, 4)
    for force_loop in (False, True):
        _, (h, c) = layer(x, None, cell_mask=ones, cell_output_scale=1 / (1 - p), force_loop=force_loop)
        torch.testing.assert_close(h[0, 0], kept_h)
        torch.testing.assert_close(c[0, 0], kept_c)
    # rnnreg ≤ 0.3: the inverted mask inside the recurrence; the kept cell grows ~ (1/(1-p))^t.
    _, compounded_c = moon_trajectory(layer, x, torch.full((4,), 1 / (1 - p)), 1.0)
    assert (compounded_c.abs() > 100 * det_c[0, 0].abs()).all()


def test_model_without_plan_is_deterministic_and_masks_change_it():
    model = RNNModel(20, 8, 2, 20, plan={"output": SiteRule(0.5)})
    tokens = torch.randint(0, 20, (3, 6))
    a, _ = model(tokens)
    b, _ = model(tokens, masks=Masks())
    torch.testing.assert_close(a, b)
    c, _ = model(tokens, masks=model.sample_masks(tokens))
    assert not torch.allclose(a, c)


def test_untied_input_masks_give_each_gate_its_own_view_of_x():
    layer = RecurrentLayer("lstm", 3, 2)
    x = torch.randn(1, 1, 3)
    # gate i sees nothing of x, the others see all of it
    mask = torch.ones(4, 1, 1, 3)
    mask[0] = 0
    out, (_, c) = layer(x, None, input_mask=mask)
    w, b = layer.rnn.weight_ih_l0, layer.rnn.bias_ih_l0 + layer.rnn.bias_hh_l0
    pre = w @ x[0, 0] + b
    pre[:2] = b[:2]  # the i gate's input projection is dropped
    i, f, g, o = pre.chunk(4)
    torch.testing.assert_close(c[0, 0], torch.sigmoid(i) * torch.tanh(g))


def test_masked_fused_calls_leave_the_module_using_its_parameters():
    """A masked call must not leave stale weights behind: later calls see the updated parameters."""
    layer = RecurrentLayer("lstm", 3, 4)
    x = torch.randn(2, 5, 3)
    layer(x, None, recurrent_mask=torch.zeros(1, 1, 1, 4))[0].sum().backward()
    assert layer.rnn.weight_hh_l0.grad is not None
    with torch.no_grad():
        layer.rnn.weight_hh_l0.add_(0.5)  # what an optimizer step does
    torch.testing.assert_close(layer(x, None)[0], layer.rnn(x)[0])
    torch.testing.assert_close(layer(x, None)[0], layer(x, None, force_loop=True)[0], atol=ATOL, rtol=0)


MASK_CASES = {
    "tied per sample": dict(recurrent=SiteRule(0.3), input=SiteRule(0.5)),
    "untied": dict(recurrent=SiteRule(0.3, per_gate=True), input=SiteRule(0.5, per_gate=True)),
    "per step (naive)": dict(recurrent=SiteRule(0.5, per="step"), input=SiteRule(0.5, per="step")),
    "cell (moon, inverted inside)": dict(cell=SiteRule(0.5, scale="mask"), input=SiteRule(0.5, per="step")),
    "cell (moon, scaled on h)": dict(cell=SiteRule(0.4, scale="output"), input=SiteRule(0.5, per="step")),
    "untied recurrent, per step": dict(recurrent=SiteRule(0.4, per="step", per_gate=True)),
    "candidate per step (semeniuta)": dict(candidate=SiteRule(0.3, per="step"), input=SiteRule(0.5, per="step")),
    "candidate per sequence, naive recurrent": dict(candidate=SiteRule(0.4), recurrent=SiteRule(0.3, per="step")),
    "zoneout cell and hidden": dict(cell=SiteRule(0.5, per="step", kind="zoneout"),
                                    hidden=SiteRule(0.3, per="step", kind="zoneout")),
    "zoneout hidden, per sequence": dict(hidden=SiteRule(0.4, kind="zoneout")),
    "zoneout hidden, moon scaled on h": dict(cell=SiteRule(0.4, scale="output"), hidden=SiteRule(0.3, per="step", kind="zoneout")),
    "weight-drop, untied, candidate, zoneout": dict(weight_recurrent=SiteRule(0.5, scope="batch"),
                                                    recurrent=SiteRule(0.3, per_gate=True),
                                                    candidate=SiteRule(0.3, per="step"),
                                                    hidden=SiteRule(0.2, per="step", kind="zoneout")),
}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("case", sorted(MASK_CASES))
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "torch-mm"])
def test_fast_loop_equals_the_reference_loop(cell, case, with_state, onednn, monkeypatch):
    """The hand-written backward of the fast path gives autograd's gradients for the same masks,
    with the step GEMM on a packed oneDNN weight and on plain torch.mm."""
    if "cell" in MASK_CASES[case] and cell == "gru":
        pytest.skip("Moon's cell mask exists only in LSTMs")
    if onednn and not fastloop.ONEDNN_AVAILABLE:
        pytest.skip("this torch build has no oneDNN linear (the fast path falls back to torch.mm)")
    monkeypatch.setattr(fastloop, "USE_ONEDNN", onednn)
    monkeypatch.setattr(fastloop, "PACK_MIN_NUMEL", 0)  # these weights are tiny: pack them anyway
    layer = RecurrentLayer(cell, 5, 6)
    tokens = torch.zeros(3, 7, dtype=torch.long)
    masks = sample_masks(MASK_CASES[case], tokens, vocab_size=1, cell=cell, input_size=5, hidden_size=6, num_layers=1,
                         weights_hh=[layer.rnn.weight_hh_l0])
    x = torch.randn(3, 7, 5, requires_grad=True)
    if not with_state:
        state = None
    elif cell == "lstm":
        state = (torch.randn(1, 3, 6, requires_grad=True), torch.randn(1, 3, 6, requires_grad=True))
    else:
        state = torch.randn(1, 3, 6, requires_grad=True)
    inputs = [x] + ([] if state is None else list(state) if cell == "lstm" else [state])
    kwargs = masks.layer(0)
    assert not layer.fused_can_run(kwargs["input_mask"], kwargs["recurrent_mask"], kwargs["cell_mask"],
                                   kwargs["candidate_mask"], kwargs["cell_zoneout"], kwargs["hidden_zoneout"])
    results = []
    for force_loop in (True, False):
        for t in inputs + list(layer.parameters()):
            t.grad = None
        out, new_state = layer(x, state, force_loop=force_loop, **kwargs)
        h, c = new_state if cell == "lstm" else (new_state, None)
        (out.sin().sum() + (h * 2).sum() + (c.cos().sum() if c is not None else 0)).backward()
        results.append([out, h] + ([c] if c is not None else []) + [t.grad for t in inputs + list(layer.parameters())])
    for ref, fast in zip(*results, strict=True):
        torch.testing.assert_close(fast, ref, atol=ATOL, rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (benchmarks/gpu/check.sh runs it on one)")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("case", ["tied per sample", "untied", "candidate per step (semeniuta)", "zoneout hidden, per sequence",
                                  "weight-drop, untied, candidate, zoneout"])
def test_on_cuda_every_path_equals_the_reference_loop(cell, case):
    """The fast loop (and the fused kernel, for what folds into it) on CUDA against autograd's loop."""
    torch.manual_seed(0)
    layer = RecurrentLayer(cell, 5, 6).cuda()
    tokens = torch.zeros(3, 7, dtype=torch.long, device="cuda")
    masks = sample_masks(MASK_CASES[case], tokens, vocab_size=1, cell=cell, input_size=5, hidden_size=6, num_layers=1,
                         weights_hh=[layer.weight_hh])
    x = torch.randn(3, 7, 5, device="cuda", requires_grad=True)
    results = []
    for force_loop in (True, False):
        layer.zero_grad()
        x.grad = None
        out, _ = layer(x, None, force_loop=force_loop, **masks.layer(0))
        out.sin().sum().backward()
        results.append([out, x.grad] + [p.grad for p in layer.parameters()])
    for ref, fast in zip(*results, strict=True):
        torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-4)
