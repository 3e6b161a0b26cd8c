"""The paper's successors as plugins: semeniuta, zoneout, weight-drop and ar-tar, each pinned against a
reference written here from its paper's equations (not from rnnreg's own loop), and AWD-LSTM as their
composition."""

import json

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from rnnreg.cli import cli
from rnnreg.errors import RnnregError
from rnnreg.model import RecurrentLayer, RNNModel, sample_masks
from rnnreg.regularizer import build_regularizer
from rnnreg.tasks.base import LMData
from rnnreg.trainer import batchify, lm_train_epoch, make_optimizer, passes_per_call

AWD = "weight-drop+variational+embedding+ar-tar"


def paper_lstm(layer, x, k=None, u_c=None, u_h=None):
    """Unrolls the equations of Semeniuta et al. (k on g_t) and Krueger et al. (u = 1 takes the new value):
        c̃ = f c + i (k g),  h̃ = o tanh(c̃),  c' = c + u_c (c̃ − c),  h' = h + u_h (h̃ − h).
    Masks are (batch, steps, H) tensors or None."""
    w_ih, w_hh = layer.rnn.weight_ih_l0, layer.rnn.weight_hh_l0
    b = layer.rnn.bias_ih_l0 + layer.rnn.bias_hh_l0
    h = c = x.new_zeros(x.shape[0], layer.hidden_size)
    outs = []
    for t in range(x.shape[1]):
        i, f, g, o = (x[:, t] @ w_ih.T + h @ w_hh.T + b).chunk(4, 1)
        g = torch.tanh(g) * (1 if k is None else k[:, t])
        new_c = torch.sigmoid(f) * c + torch.sigmoid(i) * g
        new_h = torch.sigmoid(o) * torch.tanh(new_c)
        c = new_c if u_c is None else c + u_c[:, t] * (new_c - c)
        h = new_h if u_h is None else h + u_h[:, t] * (new_h - h)
        outs.append(h)
    return torch.stack(outs, 1)


def paper_gru(layer, x, k=None, u_h=None):
    """torch's GRU with k on the candidate n_t and zoneout u on h."""
    rnn, H = layer.rnn, layer.hidden_size
    h = x.new_zeros(x.shape[0], H)
    outs = []
    for t in range(x.shape[1]):
        xr, xz, xn = (x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0).chunk(3, 1)
        hr, hz, hn = (h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0).chunk(3, 1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn) * (1 if k is None else k[:, t])
        new_h = (1 - z) * n + z * h
        h = new_h if u_h is None else h + u_h[:, t] * (new_h - h)
        outs.append(h)
    return torch.stack(outs, 1)


def step_masks(masks_by_site, name):
    m = masks_by_site[name][0] if masks_by_site[name] else None
    return None if m is None else m[0].expand(3, 7, -1)  # (1, B, T|1, H) → (B, T, H)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("spec,params", [
    ("semeniuta", {}), ("semeniuta", {"per": "sequence", "p": 0.5}), ("zoneout", {}),
    ("zoneout", {"p_cell": 0.3, "p_hidden": 0.4, "per": "sequence"})])
def test_forward_and_gradient_match_the_papers_equations(plugins, cell, spec, params):
    if cell == "gru" and spec == "zoneout":
        params = {**params, "p_cell": 0.0}  # a GRU has no cell
    plan = build_regularizer(spec, params, plugins.regularizers).plan()
    layer = RecurrentLayer(cell, 5, 6)
    masks = sample_masks(plan, torch.zeros(3, 7, dtype=torch.long), vocab_size=1, cell=cell, input_size=5,
                         hidden_size=6, num_layers=1, generator=torch.Generator().manual_seed(1))
    x = torch.randn(3, 7, 5)
    k, u_h = step_masks(vars(masks), "candidate"), step_masks(vars(masks), "hidden")
    if cell == "lstm":
        expected = paper_lstm(layer, x, k, step_masks(vars(masks), "cell_zoneout"), u_h)
    else:
        expected = paper_gru(layer, x, k, u_h)
    expected_grads = torch.autograd.grad(expected.sin().sum(), list(layer.parameters()))
    out, _ = layer(x, None, **masks.layer(0))  # the fast step loop with its hand-written backward
    grads = torch.autograd.grad(out.sin().sum(), list(layer.parameters()))
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_semeniuta_is_inverted_dropout_on_the_candidate_and_off_at_evaluation(plugins):
    plan = build_regularizer("semeniuta", {"p": 0.5}, plugins.regularizers).plan()
    masks = sample_masks(plan, torch.zeros(4, 9, dtype=torch.long), vocab_size=1, cell="lstm", input_size=3,
                         hidden_size=8, num_layers=2)
    k = masks.candidate[0]
    assert k.shape == (1, 4, 9, 8) and set(k.unique().tolist()) <= {0.0, 2.0}  # fresh per step, 1/(1-p)
    assert all(m is None for m in masks.input + masks.recurrent + masks.cell + masks.hidden)
    model = RNNModel(10, 8, 2, 10, plan=plan)
    tokens = torch.randint(0, 10, (2, 5))
    torch.testing.assert_close(model(tokens)[0], RNNModel.forward(model, tokens, masks=sample_masks(
        {}, tokens, vocab_size=10, cell="lstm", input_size=8, hidden_size=8, num_layers=2))[0])


def test_zoneout_evaluates_with_the_expectation_not_without_a_mask(plugins):
    p_cell, p_hidden = 0.5, 0.2
    plan = build_regularizer("zoneout", {"p_cell": p_cell, "p_hidden": p_hidden}, plugins.regularizers).plan()
    model = RNNModel(10, 6, 1, 10, embed_size=5, plan=plan)
    tokens = torch.randint(0, 10, (3, 7))
    model.eval()
    with torch.no_grad():
        out, _ = model(tokens)  # no masks given: evaluation
        x = model.embedding(tokens)
        expectation = paper_lstm(model.layers[0], x, u_c=torch.full((3, 7, 6), 1 - p_cell),
                                 u_h=torch.full((3, 7, 6), 1 - p_hidden))
        plain = paper_lstm(model.layers[0], x)
    torch.testing.assert_close(out, model.head(expectation), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(out, model.head(plain), atol=1e-3)


def test_zoneout_keeps_previous_values_with_probability_p(plugins):
    plan = build_regularizer("zoneout", {"p_cell": 0.3, "p_hidden": 0.6}, plugins.regularizers).plan()
    masks = sample_masks(plan, torch.zeros(50, 40, dtype=torch.long), vocab_size=1, cell="lstm", input_size=4,
                         hidden_size=64, num_layers=1)
    for u, p in ((masks.cell_zoneout[0], 0.3), (masks.hidden[0], 0.6)):
        assert set(u.unique().tolist()) == {0.0, 1.0}  # no rescaling
        assert abs((u == 0).float().mean().item() - p) < 0.02


def test_weight_drop_runs_on_the_fused_kernel_with_one_mask_per_forward_pass(plugins):
    plan = build_regularizer("weight-drop", {}, plugins.regularizers).plan()
    model = RNNModel(10, 6, 2, 10, embed_size=5, plan=plan)
    tokens = torch.randint(0, 10, (3, 7))
    masks = model.sample_masks(tokens)
    assert [m.shape for m in masks.weight_recurrent] == [(24, 6), (24, 6)]  # every layer's W_hh, its own mask
    assert set(masks.weight_recurrent[0].unique().tolist()) == {0.0, 2.0}
    assert not torch.equal(masks.weight_recurrent[0], masks.weight_recurrent[1])
    layer = model.layers[0]
    kwargs = masks.layer(0)
    assert layer.fused_can_run(kwargs["input_mask"], kwargs["recurrent_mask"], kwargs["cell_mask"])
    x = torch.randn(3, 7, 5)
    fused, _ = layer(x, None, **kwargs)
    # The same W_hh ⊙ M at every step and for every sample: the reference unroll on the masked weight.
    with torch.no_grad():
        original = layer.rnn.weight_hh_l0.clone()
        layer.rnn.weight_hh_l0.mul_(kwargs["weight_mask"])
        expected = paper_lstm(layer, x)
        layer.rnn.weight_hh_l0.copy_(original)
    torch.testing.assert_close(fused, expected, atol=1e-6, rtol=1e-5)
    model.eval()
    torch.testing.assert_close(model(tokens)[0], model(tokens, masks=model.sample_masks(tokens, evaluation=True))[0])
    assert passes_per_call(plan, ("embedding",), 100, 10, 100) == 1  # MC: a batch-shared mask, one pass per call


def test_weight_drop_draws_one_mask_per_bptt_window(plugins, monkeypatch):
    import rnnreg.model

    drawn = []
    real = rnnreg.model.sample_weight_mask
    monkeypatch.setattr(rnnreg.model, "sample_weight_mask", lambda *a, **k: drawn.append(1) or real(*a, **k))
    plan = build_regularizer("weight-drop", {}, plugins.regularizers).plan()
    model = RNNModel(20, 8, 2, 20, plan=plan)
    streams = batchify(torch.randint(0, 20, (4 * 31,)), 4, "cpu")  # 30 targets per stream: 3 windows of 10
    cfg = {"bptt": 10, "lr": 0.1, "clip": 5.0}
    lm_train_epoch(model, streams, cfg, make_optimizer("language-model", model, cfg), epoch=1)
    assert len(drawn) == 3 * 2  # one per window and layer


def test_ar_tar_adds_its_terms_to_the_training_loss(plugins):
    """ar-tar has no mask, so one training step is deterministic: it equals a step on the loss written out."""
    reg = build_regularizer("ar-tar", {"alpha": 2.0, "beta": 1.0}, plugins.regularizers)
    torch.manual_seed(0)
    model = RNNModel(20, 8, 2, 20, plan=reg.plan())
    reference = RNNModel(20, 8, 2, 20)
    reference.load_state_dict(model.state_dict())
    streams = batchify(torch.randint(0, 20, (4 * 11,)), 4, "cpu")  # one window of 10
    cfg = {"bptt": 10, "lr": 0.5, "clip": 1e9}
    lm_train_epoch(model, streams, cfg, make_optimizer("language-model", model, cfg), epoch=1, regularizer=reg)

    x, y = streams[:, :10], streams[:, 1:11]
    activations = {}
    logits, _ = reference(x, None, reference.sample_masks(x), activations=activations)
    h = activations["output"]
    penalty = 2.0 * h.pow(2).mean() + 1.0 * (h[:, 1:] - h[:, :-1]).pow(2).mean()
    loss = F.cross_entropy(logits.reshape(-1, 20), y.reshape(-1), reduction="sum") / 4 + 10 * penalty
    loss.backward()
    with torch.no_grad():
        for param in reference.parameters():
            param -= 0.5 * param.grad
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want)


def test_ar_uses_the_dropped_output_and_tar_the_undropped_one(plugins):
    reg = build_regularizer("ar-tar", {"alpha": 3.0, "beta": 0.0}, plugins.regularizers)
    h = torch.randn(2, 4, 5)
    dropped = h * torch.bernoulli(torch.full_like(h, 0.5)) * 2
    assert reg.penalty(output=h, dropped_output=dropped).item() == pytest.approx(3.0 * dropped.pow(2).mean().item())
    reg = build_regularizer("ar-tar", {"alpha": 0.0, "beta": 2.0}, plugins.regularizers)
    tar = 2.0 * (h[:, 1:] - h[:, :-1]).pow(2).mean().item()
    assert reg.penalty(output=h, dropped_output=dropped).item() == pytest.approx(tar)


def test_composition(plugins):
    awd = build_regularizer(AWD, {"p_recurrent": 0.0}, plugins.regularizers)
    assert set(awd.plan()) == {"weight_recurrent", "input", "recurrent", "output", "embedding"}
    assert [p.name for p in awd.penalties()] == ["ar-tar"]
    for spec in ("moon+zoneout", "variational+naive", "weight-drop+weight-drop", "ar-tar+ar-tar"):
        with pytest.raises(RnnregError, match="cannot compose"):
            build_regularizer(spec, {}, plugins.regularizers)
    for spec in ("semeniuta+zaremba", "zoneout+variational", "semeniuta+variational+embedding", "variational+ar-tar"):
        build_regularizer(spec, {}, plugins.regularizers)


def test_awd_with_p_recurrent_zero_runs_on_the_fused_kernel(plugins):
    plan = build_regularizer(AWD, {"p_recurrent": 0.0}, plugins.regularizers).plan()
    model = RNNModel(10, 6, 2, 10, plan=plan)
    masks = model.sample_masks(torch.randint(0, 10, (3, 7)))
    for k in range(2):
        kw = masks.layer(k)
        assert kw["recurrent_mask"] is None
        assert model.layers[k].fused_can_run(kw["input_mask"], kw["recurrent_mask"], kw["cell_mask"])


def invoke_json(*args):
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_plugins_list_shows_each_ones_sites():
    rows = {row["name"]: row for row in invoke_json("plugins", "list")}
    assert rows["semeniuta"]["sites"] == ["candidate"]
    assert rows["zoneout"]["sites"] == ["cell (zoneout)", "hidden (zoneout)"]
    assert rows["weight-drop"]["sites"] == ["weight_recurrent"]
    assert rows["ar-tar"]["sites"] == ["loss"] and rows["ar-tar"]["params"] == {"alpha": 2.0, "beta": 1.0}
    assert rows["variational"]["sites"] == ["input", "recurrent", "output"]


def test_explain_draws_every_new_site():
    zoneout = invoke_json("explain", "zoneout", "--steps", "30", "--units", "20")
    assert zoneout["kinds"] == {"cell": "zoneout", "hidden": "zoneout"}
    rows = zoneout["sites"]["cell"]
    assert len(rows) == 30 and any(rows[t] != rows[0] for t in range(1, 30))  # fresh every step
    kept_previous = sum(r.count(0) for r in rows) / (30 * 20)
    assert 0.4 < kept_previous < 0.6  # p_cell 0.5
    weight = invoke_json("explain", "weight-drop", "--units", "10")["sites"]["weight_recurrent"]
    assert weight["shape"] == [40, 10] and len(weight["matrix"]) == 10 and 0.3 < weight["kept_fraction"] < 0.7
    semeniuta = invoke_json("explain", "semeniuta")["sites"]["candidate"]
    assert len(semeniuta) == 8
    ar_tar = invoke_json("explain", "ar-tar")
    assert all(v is None for v in ar_tar["sites"].values())
    assert ar_tar["penalties"][0]["activations"] == ["output", "dropped_output"]
    awd = invoke_json("explain", AWD, "--param", "p_recurrent=0")
    assert awd["sites"]["recurrent"] is None and awd["sites"]["weight_recurrent"] is not None
    assert [p["name"] for p in awd["penalties"]] == ["ar-tar"]


def test_each_successor_trains_a_language_model(plugins):
    from rnnreg.tasks.synthetic import SyntheticLM
    from rnnreg.trainer import train_and_evaluate

    data = SyntheticLM().load()
    data = LMData(data.train[:2000], data.valid[:500], data.test[:500], data.vocab_size)
    model_cfg = {"cell": "lstm", "hidden_size": 12, "num_layers": 2, "init_scale": 0.1}
    for spec, params in (("semeniuta", {}), ("zoneout", {}), ("weight-drop", {}), ("ar-tar", {}), (AWD, {"p_recurrent": 0.0})):
        reg = build_regularizer(spec, params, plugins.regularizers)
        result = train_and_evaluate(SyntheticLM(), data, reg, model_cfg, {**SyntheticLM.train, "epochs": 1},
                                    {"mc_samples": 2}, seed=0)
        assert result["metrics"]["valid_perplexity"] < data.vocab_size, spec
        assert ("valid_perplexity_mc" in result["metrics"]) == (spec != "ar-tar"), spec
        assert ("train_penalty" in result["curves"][0]) == ("ar-tar" in spec), spec
