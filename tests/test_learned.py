"""Gaussian masks, learned rates (Concrete dropout) and per-layer rules, against the papers' equations,
autograd on the reference loop, and the load-time checks."""

import math

import pytest
import torch

from rnnreg.dropout import SiteRule, check_plan, rule_at
from rnnreg.errors import RnnregError
from rnnreg.learned import LearnedRate, logit, relaxed_keep_mask
from rnnreg.masks import sample_mask
from rnnreg.model import RNNModel
from rnnreg.regularizer import Regularizer, build_regularizer, check_regularizer_class
from rnnreg.trainer import make_optimizer

# --- Gaussian masks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_a_gaussian_mask_has_mean_one_and_bernoullis_variance(p):
    mask = sample_mask(SiteRule(p, per="step", distribution="gaussian"), batch=400, steps=50, units=100)
    assert abs(mask.mean().item() - 1) < 0.01
    assert abs(mask.var().item() - p / (1 - p)) < 0.02 * p / (1 - p)
    bernoulli = sample_mask(SiteRule(p, per="step"), batch=400, steps=50, units=100)
    assert abs(mask.var().item() - bernoulli.var().item()) < 0.03 * p / (1 - p)  # the same variance at the same p


def test_gaussian_sites_draw_once_per_sequence_and_evaluation_runs_without_them(plugins):
    model = RNNModel(30, 8, 2, 30, plan=build_regularizer("gaussian", {}, plugins.regularizers).plan())
    tokens = torch.randint(0, 30, (3, 5))
    masks = model.sample_masks(tokens)
    for mask in [*masks.input, *masks.recurrent, masks.output]:
        assert mask.shape[1:3] == (3, 1)  # per sample, one draw reused at every step
        assert not torch.all((mask == 0) | (mask > 1))  # continuous, not a 0 / 1/(1-p) mask
    model.eval()
    evaluation = model.sample_masks(tokens, evaluation=True)
    assert all(m is None for m in [*evaluation.input, *evaluation.recurrent, evaluation.output])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_fast_loop_takes_gaussian_and_per_layer_masks_exactly(cell):
    plan = {"input": SiteRule(0.3, distribution="gaussian"),
            "recurrent": (SiteRule(0.4, distribution="gaussian", layers=(0,)), SiteRule(0.2, per="step", layers=(1,)))}
    model = RNNModel(30, 12, 2, 30, cell=cell, plan=plan).double()
    tokens = torch.randint(0, 30, (4, 6))
    masks = model.sample_masks(tokens, generator=torch.Generator().manual_seed(2))
    outputs = []
    for force_loop in (False, True):
        x = model.embedding(tokens)
        for k, layer in enumerate(model.layers):
            x, _ = layer(x, None, force_loop=force_loop, **masks.layer(k))
        outputs.append(x)
    assert torch.allclose(outputs[0], outputs[1], atol=1e-12)


# --- per-layer rules ------------------------------------------------------------------------------------


def test_a_rule_on_the_first_layer_leaves_the_second_untouched():
    plan = {"recurrent": SiteRule(0.5, layers=(0,))}
    model = RNNModel(30, 8, 2, 30, plan=plan)
    masks = model.sample_masks(torch.randint(0, 30, (2, 4)))
    assert masks.recurrent[0] is not None and masks.recurrent[1] is None
    assert rule_at(plan, "recurrent", 1) is None


def test_per_layer_rates_are_one_rule_per_layer_group():
    plan = check_plan({"input": (SiteRule(0.4, layers=(0,)), SiteRule(0.1, layers=(1, 2)))})
    assert [rule_at(plan, "input", k).p for k in range(3)] == [0.4, 0.1, 0.1]


@pytest.mark.parametrize("plan, message", [
    ({"output": SiteRule(0.3, layers=(0,))}, "exists once, not per layer"),
    ({"input": (SiteRule(0.3, layers=(0,)), SiteRule(0.2, layers=(0, 1)))}, "both name layer 0"),
    ({"input": (SiteRule(0.3, layers=(0,)), SiteRule(0.2))}, "each must name its layers"),
    ({"candidate": SiteRule(0.3, learned=True)}, "cannot learn its rate"),
    ({"weight_recurrent": SiteRule(0.3, per="sequence", scope="batch", learned=True)}, "cannot learn its rate"),
])
def test_plans_a_site_cannot_follow_are_refused(plan, message):
    with pytest.raises(RnnregError, match=message):
        check_plan(plan)


@pytest.mark.parametrize("kwargs, message", [
    ({"distribution": "laplace"}, "distribution='laplace' is not one of bernoulli, gaussian"),
    ({"distribution": "gaussian", "kind": "zoneout"}, "Gaussian mask is multiplicative dropout"),
    ({"learned": True, "p": 0.0}, r"starts inside \(0, 1\)"),
    ({"learned": True, "distribution": "gaussian"}, "Bernoulli dropout rule"),
    ({"learned": True, "kind": "zoneout"}, "Bernoulli dropout rule"),
    ({"learned": True, "per_gate": True}, "shared by the gates"),
    ({"layers": [0]}, "non-empty tuple of distinct layer numbers"),
    ({"layers": (0, 0)}, "non-empty tuple of distinct layer numbers"),
    ({"temperature": 0}, "temperature must be a number > 0"),
])
def test_bad_rules_are_one_line_errors(kwargs, message):
    with pytest.raises(RnnregError, match=message):
        SiteRule(**{"p": 0.3, **kwargs})


def test_a_plugin_with_a_bad_rule_fails_at_load_naming_the_plugin():
    class Bad(Regularizer):
        name = "bad-gaussian"
        params = {"p": 0.3}

        def plan(self):
            return {"output": SiteRule(self.p, distribution="gamma")}

    with pytest.raises(RnnregError, match="regularizer 'bad-gaussian' from here: .*distribution='gamma'"):
        check_regularizer_class(Bad, "here")


def test_a_rule_naming_a_layer_the_model_lacks_is_refused_before_training(plugins):
    with pytest.raises(RnnregError, match="names layer 2, but the model has 2 layers"):
        RNNModel(30, 8, 2, 30, plan={"recurrent": SiteRule(0.3, layers=(2,))})


def test_concrete_refuses_a_starting_rate_outside_the_open_interval(plugins):
    with pytest.raises(RnnregError, match=r"regularizer 'concrete' .*starts inside \(0, 1\)"):
        build_regularizer("concrete", {"p_recurrent": 0.0}, plugins.regularizers)


# --- learned rates: the relaxed mask, the KL term, the gradient -------------------------------------------


def test_the_relaxed_mask_is_the_papers_concrete_distribution():
    p, t = 0.3, 0.1
    mask = relaxed_keep_mask(torch.tensor(logit(p)), (1, 2, 1, 5), t, generator=torch.Generator().manual_seed(4))
    u = torch.rand((1, 2, 1, 5), generator=torch.Generator().manual_seed(4)).double()
    drop = 1 / (1 + torch.exp(-(math.log(p) - math.log(1 - p) + torch.log(u) - torch.log(1 - u)) / t))
    assert torch.allclose(mask.double(), (1 - drop) / (1 - p), atol=1e-5)
    # At t → 0 it is Bernoulli: kept with probability 1 − p, at 1 / (1 − p).
    many = relaxed_keep_mask(torch.tensor(logit(p)), (200_000,), 1e-4)
    assert abs((many > 0.5).float().mean().item() - (1 - p)) < 0.005
    assert abs(many.max().item() - 1 / (1 - p)) < 1e-4


def test_the_concrete_penalty_is_the_papers_kl_term_tied_to_the_data_size(plugins):
    reg = build_regularizer("concrete", {"length_scale": 0.5, "precision": 2.0}, plugins.regularizers)
    p, weight = torch.tensor(0.2), torch.full((8, 2), 0.5)
    term = reg.penalty(learned_rates=[LearnedRate("recurrent", 0, p, weight, 2, examples=50)])
    # weight_regularizer = l² / (τN) = 0.25 / 100, dropout_regularizer = 2 / (τN) = 0.02
    by_hand = 0.25 / 100 * (16 * 0.25) / 0.8 + 0.02 * 2 * (0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert term.item() == pytest.approx(by_hand, rel=1e-6)


def test_the_trainer_tells_the_kl_term_how_many_examples_the_loss_averages_over(plugins):
    from rnnreg.tasks.synthetic import SyntheticSentiment
    from rnnreg.trainer import train_and_evaluate

    seen = []
    reg = build_regularizer("concrete", {}, plugins.regularizers)
    real = type(reg).penalty
    type(reg).penalty = lambda self, *, learned_rates: seen.append(learned_rates[0].examples) or real(
        self, learned_rates=learned_rates)
    try:
        task = SyntheticSentiment()
        data = task.load()
        train_and_evaluate(task, data, reg, {**task.model, "hidden_size": 8, "embed_size": 8},
                           {**task.train, "epochs": 1}, {}, seed=0)
    finally:
        type(reg).penalty = real
    assert set(seen) == {len(data.train[0])}


def rate_gradients(model, tokens, force_loop):
    model.zero_grad()
    masks = model.sample_masks(tokens, generator=torch.Generator().manual_seed(1))
    x = model.embedding(tokens) * (1 if masks.embedding is None else masks.embedding)
    for k, layer in enumerate(model.layers):
        x, _ = layer(x, None, force_loop=force_loop, **masks.layer(k))
    model.head(x * masks.output[0]).logsumexp(-1).sum().backward()
    return {name: param.grad.clone() for name, param in model.named_parameters()}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("scope", ["sample", "batch"], ids=["fast-loop", "fused"])
def test_the_gradient_to_every_rate_matches_autograd_on_the_reference_loop(cell, scope):
    learned = dict(per="sequence", scope=scope, learned=True)
    plan = {"embedding": SiteRule(0.2, **learned), "input": SiteRule(0.4, **learned),
            "recurrent": SiteRule(0.3, **learned), "output": SiteRule(0.5, **learned)}
    model = RNNModel(30, 12, 2, 30, cell=cell, plan=plan).double()
    tokens = torch.randint(0, 30, (4, 7))
    fast, reference = rate_gradients(model, tokens, False), rate_gradients(model, tokens, True)
    assert {name for name in fast if name.startswith("rates.")} == {
        "rates.embedding_0", "rates.input_0", "rates.input_1", "rates.recurrent_0", "rates.recurrent_1",
        "rates.output_0"}
    for name in fast:
        assert fast[name].abs().sum() > 0, name
        assert torch.allclose(fast[name], reference[name], rtol=1e-9, atol=1e-12), name


def test_the_fast_loop_keeps_no_mask_gradient_work_without_a_learned_rate(monkeypatch):
    """The unmasked products are kept only when the mask needs a gradient (a learned rate)."""
    from rnnreg import fastloop

    seen = []
    real = fastloop.MaskedProduct.mask_grad
    monkeypatch.setattr(fastloop.MaskedProduct, "mask_grad", lambda self, *a: seen.append(1) or real(self, *a))
    model = RNNModel(30, 8, 1, 30, plan={"recurrent": SiteRule(0.3)})
    tokens = torch.randint(0, 30, (2, 3))
    masks = model.sample_masks(tokens)
    out, _ = model.layers[0](model.embedding(tokens), None, **masks.layer(0))
    out.sum().backward()
    assert seen == []


def train_rates(dropout_regularizer: float, steps: int = 150) -> list[float]:
    """A few steps of a toy task with the concrete plan's KL term; the recurrent rate's value per step."""
    torch.manual_seed(0)
    plan = {"recurrent": SiteRule(0.3, learned=True)}
    model = RNNModel(20, 16, 1, 20, plan=plan)
    optimizer = make_optimizer("language-model", model, {"lr": 0.5})
    tokens = torch.randint(0, 20, (8, 10))
    values = []
    for _ in range(steps):
        logits, _ = model(tokens[:, :-1], None, model.sample_masks(tokens[:, :-1]))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 20), tokens[:, 1:].reshape(-1))
        [rate] = model.rate_inputs()
        p = rate.p
        loss = loss + dropout_regularizer * rate.units * (p * torch.log(p) + (1 - p) * torch.log1p(-p))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        values.append(model.learned_rates()["recurrent.0"])
    return values


def test_a_rate_moves_the_way_the_loss_pushes_it():
    # Memorising a fixed batch: the task loss wants less noise, so p falls; a large entropy term
    # (maximal at p = 0.5) pulls it up instead.
    assert train_rates(0.0)[-1] < 0.25
    assert train_rates(1.0)[-1] > 0.45


def test_rates_are_trained_by_their_own_adam_and_never_decayed():
    model = RNNModel(20, 8, 1, 20, plan={"output": SiteRule(0.3, learned=True)})
    optimizer = make_optimizer("language-model", model, {"lr": 1.0, "weight_decay": 0.5})
    assert all(id(p) not in {id(r) for r in model.rates.parameters()}
               for group in optimizer.param_groups for p in group["params"])
    state = optimizer.state_dict()
    assert set(state) == {"weights", "rates"}
    assert len(model.weights()) == len(list(model.parameters())) - 1
