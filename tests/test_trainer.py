"""Training is reproducible, diverging runs stop with a reason, MC evaluation averages probabilities."""

import math

import pytest
import torch

from rnnreg.dropout import SiteRule
from rnnreg.errors import Diverged
from rnnreg.model import RNNModel
from rnnreg.regularizer import build_regularizer
from rnnreg.tasks.base import LMData
from rnnreg.tasks.synthetic import SyntheticLM, SyntheticSentiment
from rnnreg.trainer import batchify, lm_learning_rate, lm_perplexity, sequence_metric, train_and_evaluate

TINY_MODEL = {"cell": "lstm", "hidden_size": 16, "embed_size": 16, "num_layers": 2, "init_scale": 0.1}


def tiny_lm():
    data = SyntheticLM().load()
    return LMData(data.train[:3000], data.valid[:1000], data.test[:1000], data.vocab_size)


def lm_train(**changes):
    return {**SyntheticLM.train, "epochs": 2, **changes}


def test_same_seed_same_numbers(plugins):
    task, data = SyntheticLM(), tiny_lm()
    reg = build_regularizer("variational+embedding", {}, plugins.regularizers)
    runs = [train_and_evaluate(task, data, reg, TINY_MODEL, lm_train(), {"mc_samples": 2}, seed=3) for _ in range(2)]
    assert runs[0]["metrics"] == runs[1]["metrics"]
    other = train_and_evaluate(task, data, reg, TINY_MODEL, lm_train(), {"mc_samples": 2}, seed=4)
    assert other["metrics"] != runs[0]["metrics"]
    assert set(runs[0]["metrics"]) == {"valid_perplexity", "test_perplexity", "train_perplexity",
                                       "valid_perplexity_mc", "test_perplexity_mc"}
    assert [c["epoch"] for c in runs[0]["curves"]] == [1, 2]


def test_divergence_raises_with_the_reason(plugins):
    reg = build_regularizer("none", {}, plugins.regularizers)
    with pytest.raises(Diverged, match="loss became (nan|inf) at epoch 1"):
        train_and_evaluate(SyntheticLM(), tiny_lm(), reg, {**TINY_MODEL, "init_scale": 1e38}, lm_train(), {}, seed=0)


def test_learning_rate_is_constant_then_geometric():
    cfg = {"lr": 1.0, "lr_decay": 2.0, "decay_after": 4}
    assert [lm_learning_rate(cfg, e) for e in range(1, 8)] == [1, 1, 1, 1, 0.5, 0.25, 0.125]


def test_mc_perplexity_averages_probabilities_not_log_probabilities():
    torch.manual_seed(0)
    model = RNNModel(30, 8, 1, 30, plan={"output": SiteRule(0.5)})
    streams = batchify(torch.randint(0, 30, (400,)), 4, "cpu")
    # Replay the same masks by reseeding: the MC result must equal exp(-mean log(mean_n p_n)).
    torch.manual_seed(1)
    mc = lm_perplexity(model, streams, bptt=10, mc_samples=3)
    torch.manual_seed(1)
    # The 3 passes run side by side as 3 copies of the 4 streams (rows 4j..4j+3 are pass j), each with
    # one draw of masks kept for the whole stream (Gal's run_MC_test); the output mask is per sequence.
    tiled = streams.repeat(3, 1)
    state, per_window, masks = None, [], model.sample_masks(tiled[:, :10], skip=("embedding",))
    for start in range(0, streams.shape[1] - 1, 10):
        x, y = tiled[:, start:start + 10], tiled[:, start + 1:start + 11]
        x = x[:, :y.shape[1]]
        logits, state = model(x, state, masks)
        per_window.append(logits.softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1))
    probs = list(torch.cat(per_window, 1).view(3, 4, -1))
    expected = math.exp(-torch.stack(probs).double().mean(0).log().mean().item())
    assert mc == pytest.approx(expected, rel=1e-6)
    log_average = math.exp(-torch.stack(probs).double().log().mean().item())
    assert mc < log_average  # Jensen: averaging probabilities is not averaging log-probabilities


def test_mc_with_nothing_to_drop_equals_deterministic():
    model = RNNModel(30, 8, 1, 2, readout="last")
    x, y = torch.randint(0, 30, (20, 5)), torch.randint(0, 2, (20,))
    assert sequence_metric(model, "classification", x, y, 8) == sequence_metric(model, "classification", x, y, 8, 4)


def test_sequence_task_trains_and_reports_error(plugins):
    task = SyntheticSentiment()
    reg = build_regularizer("variational", {}, plugins.regularizers)
    out = train_and_evaluate(task, task.load(), reg, {**task.model, "hidden_size": 8, "embed_size": 8},
                             {**task.train, "epochs": 1}, {"mc_samples": 2}, seed=0)
    assert set(out["metrics"]) == {"valid_error", "test_error", "train_error", "valid_error_mc", "test_error_mc"}
    assert all(0 <= v <= 1 for v in out["metrics"].values())
    assert out["speed"]["train_tokens_per_s"]["median"] > 0


# --- fidelity to the papers' code -----------------------------------------------------------------


def one_sgd_step(mode, wd=0.01, lr=0.5):
    """One training step of a tiny LM; returns the weights before, their clipped gradient, and after."""
    torch.manual_seed(0)
    model = RNNModel(30, 4, 1, 30)
    streams = batchify(torch.randint(0, 30, (200,)), 4, "cpu")
    cfg = {"lr": lr, "bptt": 5, "clip": 1e9, "weight_decay": wd, "weight_decay_mode": mode, "max_steps": 1}
    from rnnreg.trainer import lm_train_epoch, make_optimizer

    before = [p.detach().clone() for p in model.parameters()]
    lm_train_epoch(model, streams, cfg, make_optimizer("language-model", model, cfg), epoch=1)
    grads = [p.grad.detach().clone() for p in model.parameters()]
    return before, grads, [p.detach() for p in model.parameters()]


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_weight_decay_forms_against_a_hand_computation(mode):
    wd, lr = 0.01, 0.5
    before, grads, after = one_sgd_step(mode, wd, lr)
    for w, g, new in zip(before, grads, after, strict=True):
        if mode == "coupled":  # torch's SGD: the prior's gradient joins the data's, both scaled by lr
            expected = w - lr * (g + wd * w)
        else:  # Gal's bp(): step on the data gradient, then every weight times (1 - wd), whatever lr is
            expected = (w - lr * g) * (1 - wd)
        torch.testing.assert_close(new, expected)


def test_sentiment_targets_are_standardised_and_rmse_stays_in_rating_units():
    from rnnreg.trainer import target_standardization

    ratings = torch.tensor([0.2, 0.4, 0.6, 0.8])
    mean, std = target_standardization("regression", ratings, {"standardize_targets": True})
    assert mean == pytest.approx(0.5) and std == pytest.approx(ratings.std().item())
    assert target_standardization("regression", ratings, {}) == (0.0, 1.0)
    assert target_standardization("classification", ratings, {"standardize_targets": True}) == (0.0, 1.0)
    # A model that predicts 0 (the standardised mean) has the RMSE of the mean rating, in rating units.
    model = RNNModel(10, 4, 1, 1, readout="last")
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    x = torch.randint(1, 10, (4, 3))
    rmse = sequence_metric(model, "regression", x, ratings, 8, target_scale=(mean, std))
    assert rmse == pytest.approx((ratings - 0.5).pow(2).mean().sqrt().item())


def test_regression_trains_on_standardised_targets(monkeypatch):
    """The loss the optimizer sees is on (y − mean) / std of the training split."""
    from rnnreg import trainer
    from rnnreg.tasks.base import SequenceData

    seen = []
    real_loss = trainer.sequence_loss
    monkeypatch.setattr(trainer, "sequence_loss", lambda kind, out, y: seen.append(y.clone()) or real_loss(kind, out, y))
    torch.manual_seed(0)
    x = torch.randint(1, 10, (16, 4))
    y = torch.rand(16) * 0.3 + 0.4
    data = SequenceData((x, y), (x[:4], y[:4]), (x[:4], y[:4]), 10, num_outputs=1)
    model = RNNModel(10, 4, 1, 1, readout="last")
    cfg = {"epochs": 1, "batch_size": 16, "lr": 0.01, "standardize_targets": True}
    training = trainer.SequenceModelling(model, "regression", data, cfg, {}, "cpu", 0)
    trainer.fit(training, model, cfg, {}, "cpu", lambda info: None)
    fitted = torch.cat(seen)
    assert fitted.mean().item() == pytest.approx(0.0, abs=1e-6) and fitted.std().item() == pytest.approx(1.0, rel=1e-5)


def test_no_mc_metric_without_a_site_left_to_sample(plugins):
    """`embedding` alone has nothing to sample in MC (its site is off there by default): no MC number."""
    task, data = SyntheticLM(), tiny_lm()
    reg = build_regularizer("embedding", {}, plugins.regularizers)
    out = train_and_evaluate(task, data, reg, TINY_MODEL, lm_train(epochs=1), {"mc_samples": 2}, seed=0)
    assert not any(name.endswith("_mc") for name in out["metrics"])
    with_embedding = train_and_evaluate(task, data, reg, TINY_MODEL, lm_train(epochs=1),
                                        {"mc_samples": 2, "mc_embedding": True}, seed=0)
    assert "valid_perplexity_mc" in with_embedding["metrics"]


def test_mc_passes_side_by_side_equal_passes_one_at_a_time_in_distribution():
    """Batching passes changes which random numbers go where, not what is estimated: with many passes the
    batched and the one-at-a-time MC perplexities agree closely; a batch-shared mask runs one pass a call."""
    from rnnreg import trainer

    torch.manual_seed(0)
    model = RNNModel(30, 8, 1, 30, plan={"output": SiteRule(0.5), "recurrent": SiteRule(0.3)})
    streams = batchify(torch.randint(0, 30, (400,)), 4, "cpu")
    batched = lm_perplexity(model, streams, bptt=10, mc_samples=400)
    original = trainer.MC_MAX_ROWS
    trainer.MC_MAX_ROWS = 4  # one pass per call
    try:
        one_by_one = lm_perplexity(model, streams, bptt=10, mc_samples=400)
    finally:
        trainer.MC_MAX_ROWS = original
    assert batched == pytest.approx(one_by_one, rel=0.01)
    assert trainer.passes_per_call({"recurrent": SiteRule(0.3, scope="batch")}, (), 100, 4, 300) == 1
    assert trainer.passes_per_call({"recurrent": SiteRule(0.3)}, (), 100, 4, 300) == 100


def test_a_seed_gives_every_regularizer_the_same_initial_weights_and_data_order(plugins, monkeypatch):
    """What pairs the leaderboard's tests: per seed, only the regularizer differs between two runs."""
    from rnnreg import trainer

    seen = {}
    real_build, real_loss = trainer.build_model, trainer.sequence_loss

    def build(task, data, model_cfg, plan):
        model = real_build(task, data, model_cfg, plan)
        seen.setdefault("weights", []).append({k: v.clone() for k, v in model.state_dict().items()})
        return model

    def loss(kind, out, y):
        seen.setdefault("targets", []).append(y.clone())
        return real_loss(kind, out, y)

    monkeypatch.setattr(trainer, "build_model", build)
    monkeypatch.setattr(trainer, "sequence_loss", loss)
    task = SyntheticSentiment()
    data = task.load()
    small = {**task.model, "hidden_size": 8, "embed_size": 8}
    orders = []
    for spec, seed in (("none", 3), ("variational+embedding", 3), ("naive", 4)):
        seen["targets"] = []
        train_and_evaluate(task, data, build_regularizer(spec, {}, plugins.regularizers), small,
                           {**task.train, "epochs": 1}, {}, seed=seed)
        orders.append(torch.cat(seen["targets"]))
    first, second, other_seed = seen["weights"]
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other_seed[k]) for k in first)
    assert torch.equal(orders[0], orders[1]) and not torch.equal(orders[0], orders[2])


def test_curve_test_puts_the_test_metric_in_every_epoch(plugins):
    """Gal's sentiment scripts report the test split every epoch; `curve_test` records it in the curves."""
    task, data = SyntheticSentiment(), SyntheticSentiment().load()
    reg = build_regularizer("none", {}, plugins.regularizers)
    cfg = {**SyntheticSentiment.train, "epochs": 2}
    plain = train_and_evaluate(task, data, reg, SyntheticSentiment.model, cfg, {}, seed=0)
    with_test = train_and_evaluate(task, data, reg, SyntheticSentiment.model, cfg, {"curve_test": True}, seed=0)
    assert [("test_error" in c) for c in with_test["curves"]] == [True, True]
    assert with_test["curves"][-1]["test_error"] == with_test["metrics"]["test_error"]
    assert with_test["metrics"] == plain["metrics"]  # evaluating the test split changes nothing else


def test_mc_splits_chooses_which_splits_get_mc_passes_and_progress_follows_the_passes(plugins):
    """`evaluation.mc_splits: [test]` runs the passes over the test split only (valid gets none); the job's
    progress hears how far each split's passes have got, ending at 1."""
    task, data = SyntheticLM(), tiny_lm()
    reg = build_regularizer("variational", {}, plugins.regularizers)
    heard = []
    out = train_and_evaluate(task, data, reg, TINY_MODEL, lm_train(epochs=1), {"mc_samples": 3, "mc_splits": ["test"]},
                             seed=0, progress=heard.append)
    assert "test_perplexity_mc" in out["metrics"] and "valid_perplexity_mc" not in out["metrics"]
    passes = [info for info in heard if "mc_split" in info]
    assert {info["mc_split"] for info in passes} == {"test"} and passes[-1]["fraction"] == pytest.approx(1.0)
    fractions = [info["fraction"] for info in passes]
    assert fractions == sorted(fractions) and all(info["mc_passes"] == 3 for info in passes)
    both = train_and_evaluate(task, data, reg, TINY_MODEL, lm_train(epochs=1), {"mc_samples": 3}, seed=0)
    assert {"valid_perplexity_mc", "test_perplexity_mc"} <= set(both["metrics"])
