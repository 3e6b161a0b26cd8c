"""The overfitting excess on made-up curves: about zero for flat noise of any length and for a steady
decline; the height of the rise for a U and for a rise that recovers; staircase curves of an error rate
over 600 examples behave like their smooth versions."""

import math
import random

import pytest

from rnnreg.overfitting import overfit_excess


def noisy(values, sd, seed=0):
    rng = random.Random(seed)
    return [v * (1 + rng.gauss(0, sd)) for v in values]


@pytest.mark.parametrize("epochs", [20, 250])
@pytest.mark.parametrize("seed", range(5))
def test_flat_noise_scores_about_zero_at_any_length(epochs, seed):
    assert overfit_excess(noisy([1.0] * epochs, 0.01, seed)) < 0.01


def test_a_steady_decline_scores_zero():
    assert overfit_excess(noisy([1 + 1 / (e + 1) for e in range(40)], 0.003)) == 0.0


def test_a_u_shape_scores_its_rise():
    u = noisy([1 + 0.3 * ((e - 15) / 15) ** 2 for e in range(31)], 0.003)
    assert 0.15 < overfit_excess(u) < 0.31


def test_a_rise_that_recovers_is_seen():
    bump = noisy([1 + 0.2 * math.exp(-(((e - 10) / 3) ** 2)) for e in range(40)], 0.003)
    assert overfit_excess(bump) > 0.1  # last-minus-best saw nothing here: the curve ends at its best


def staircase(values, seed):
    rng = random.Random(seed)
    return [round((v + rng.gauss(0, 0.004)) * 600) / 600 for v in values]  # an error rate over 600 examples


@pytest.mark.parametrize("seed", range(3))
def test_staircase_error_rates(seed):
    assert overfit_excess(staircase([0.2] * 250, seed)) < 0.01
    rising = staircase([0.2 + 0.03 * max(0, e - 100) / 150 for e in range(250)], seed)
    assert overfit_excess(rising) > 0.05


def test_too_short_to_say():
    assert overfit_excess([1.0]) is None and overfit_excess([]) is None
