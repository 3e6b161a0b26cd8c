"""Dodge et al.'s expected best score after n trials, in its without-replacement form, against brute force."""

import itertools
import statistics

import pytest

from rnnreg.budget import best_of_n, budget_curve

VALUES = [5.0, 3.0, 9.0, 4.0, 7.0, 4.0]


@pytest.mark.parametrize("n", range(1, len(VALUES) + 1))
@pytest.mark.parametrize("lower", [True, False])
def test_the_expectation_is_the_mean_best_over_every_subset(n, lower):
    best = [min(s) if lower else max(s) for s in itertools.combinations(VALUES, n)]
    mean, sd = best_of_n(VALUES, n, lower)
    assert mean == pytest.approx(statistics.fmean(best))
    assert sd == pytest.approx(statistics.pstdev(best))


def test_the_curve_starts_at_the_mean_and_ends_at_the_best():
    curve = budget_curve(VALUES)
    assert curve[0]["mean"] == pytest.approx(statistics.fmean(VALUES))
    assert curve[-1] == {"n": 6, "mean": 3.0, "sd": 0.0}
    assert all(a["mean"] >= b["mean"] for a, b in zip(curve, curve[1:], strict=False))  # more trials: never worse


def test_n_outside_the_trials_is_refused():
    with pytest.raises(ValueError, match="n must be in 1..6"):
        best_of_n(VALUES, 7)
