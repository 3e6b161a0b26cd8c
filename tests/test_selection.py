"""Choosing without the winner's curse: finalists by their first seed, the winner by its mean over the
selecting seeds, a failed recheck never wins, optimism is selecting minus fresh."""

import pytest

from rnnreg.selection import Candidate, finalists, optimism, winner


def test_finalists_by_first_seed_then_the_best_mean_over_every_selecting_seed():
    pool = [Candidate("reference", 42.0, (42.1, 42.3)), Candidate("trial 0", 41.0, (44.0, 44.0)),
            Candidate("trial 1", 41.5, (41.6, 41.4)), Candidate("trial 2", None), Candidate("trial 3", 45.0)]
    top = finalists(pool, 3, higher_is_better=False)
    assert [c.key for c in top] == ["trial 0", "trial 1", "reference"]  # a failed one is never a finalist
    assert winner(top, higher_is_better=False).key == "trial 1"  # trial 0's first seed was luck


def test_a_finalist_whose_recheck_failed_cannot_win_and_ties_keep_the_first_seed_order():
    assert winner([Candidate("trial 0", 40.0, (None,)), Candidate("reference", 41.0, (41.0,))], False).key == "reference"
    assert winner([Candidate("reference", 41.0, (41.0,)), Candidate("trial 4", 41.0, (41.0,))], False).key == "reference"
    assert winner([Candidate("trial 0", 40.0, (None,))], False) is None


def test_optimism_is_what_selecting_promised_minus_what_fresh_seeds_gave():
    assert optimism([41.0, 41.5], [42.0, 42.5, 42.0]) == pytest.approx(41.25 - 42.5 / 3 - 28.0)  # -0.9167
    assert optimism([], [1.0]) is None
