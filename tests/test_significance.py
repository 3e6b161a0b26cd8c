"""Holm's correction, the paired test and the power calculation, against known values."""

import pytest

from rnnreg.significance import holm, paired_p_value, seeds_for_power


def test_holm_multiplies_by_the_number_left_and_never_steps_down():
    # p sorted: 0.01 (×3 = 0.03), 0.02 (×2 = 0.04), 0.04 (×1 = 0.04); None is not a test
    assert holm([0.04, None, 0.01, 0.02]) == [pytest.approx(0.04), None, pytest.approx(0.03), pytest.approx(0.04)]
    assert holm([0.5, 0.6]) == [pytest.approx(1.0), pytest.approx(1.0)]  # capped at 1
    assert holm([]) == []


def test_equal_differences_are_certain():
    assert paired_p_value({0: 1.0, 1: 2.0}, {0: 0.0, 1: 1.0}) == 0.0
    assert paired_p_value({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}) == 1.0
    assert paired_p_value({0: 1.0}, {0: 0.0}) is None


def test_power_of_a_paired_t_test():
    # an effect of one standard deviation: 10 pairs give 80 % power (two-sided, 0.05; G*Power: n = 10)
    assert seeds_for_power(1.0, 1.0) == 10
    assert seeds_for_power(0.5, 1.0) == 34  # half the effect: about four times the seeds
    assert seeds_for_power(0.0, 1.0) is None
