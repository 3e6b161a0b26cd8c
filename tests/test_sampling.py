"""Where trials go: draws shared by parameter name across plugins whatever their parameter order, a grid
visited once in order, Sobol points, and each trial's values a function of its own number."""

import pytest

from rnnreg.errors import RnnregError
from rnnreg.searchspace import Dimension, parse_range

optuna = pytest.importorskip("optuna", reason="the samplers are Optuna's: pip install -e '.[tune]'")

from rnnreg.sampling import PlannedSampler, draw_key, grid_points, make_sampler  # noqa: E402


def space(*names, low=0.0, high=0.8):
    return {name: Dimension(name, low, high) for name in names}


def asked(sampler_kind, dims, trials, seed=0):
    study = optuna.create_study(sampler=make_sampler(sampler_kind, seed, dims))
    return [study.ask({n: d.distribution() for n, d in dims.items()}).params for _ in range(trials)]


def test_random_draws_are_shared_by_name_whatever_the_order_of_the_parameters():
    first = asked("random", space("p_input", "p_recurrent", "p_output"), 5)
    # another plugin lists its parameters in another order, and has one the first does not
    second = asked("random", space("p_output", "p_cell", "p_input"), 5)
    composite = asked("random", space("variational.p_input", "variational.p_output", "embedding.p"), 5)
    for a, b, c in zip(first, second, composite, strict=True):
        assert a["p_input"] == b["p_input"] == c["variational.p_input"]
        assert a["p_output"] == b["p_output"] == c["variational.p_output"]
    assert len({round(t["p_input"], 6) for t in first}) == 5  # and the trials differ from each other


def test_two_parts_with_one_parameter_name_are_drawn_apart():
    dims = space("weight-drop.p", "embedding.p")
    assert draw_key("weight-drop.p", dims) == "weight-drop.p" and draw_key("embedding.p", space("embedding.p")) == "p"
    assert all(t["weight-drop.p"] != t["embedding.p"] for t in asked("random", dims, 4))


def test_a_trials_values_depend_on_its_number_alone():
    dims = space("p")
    sampler = PlannedSampler("random", 3, dims)
    assert sampler.values_at(7) == PlannedSampler("random", 3, dims).values_at(7)
    assert asked("random", dims, 8, seed=3)[7] == sampler.values_at(7)
    assert asked("random", dims, 2, seed=4) != asked("random", dims, 2, seed=3)  # another search, other points


def test_the_grid_visits_every_point_once_in_order():
    dims = {"strength": parse_range("s", "strength", [0.25, 0.5, 0.75, 1.0]),
            "train.lr": parse_range("s", "train.lr", {"points": [1.0, 0.5]})}
    expected = [{"strength": s, "train.lr": lr} for s in (0.25, 0.5, 0.75, 1.0) for lr in (1.0, 0.5)]
    assert grid_points(dims) == expected
    assert asked("grid", dims, 8) == expected
    with pytest.raises(RnnregError, match="trial 8 is past the grid's 8 points"):
        PlannedSampler("grid", 0, dims).values_at(8)
    with pytest.raises(RnnregError, match="needs listed points for every dimension; p is a range"):
        grid_points({**dims, "p": Dimension("p", 0.0, 0.5)})


def test_qmc_spreads_one_dimension_evenly():
    values = sorted(t["p"] for t in asked("qmc", space("p", low=0.0, high=1.0), 8))
    assert all(k / 8 <= v < (k + 1) / 8 for k, v in enumerate(values))  # one point in each eighth


@pytest.mark.parametrize("kind", ["tpe", "gp"])
def test_adaptive_samplers_are_reseeded_from_each_trials_own_number(kind):
    dims = space("p")
    assert asked(kind, dims, 3, seed=1) == asked(kind, dims, 3, seed=1)
