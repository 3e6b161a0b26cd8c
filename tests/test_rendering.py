"""How the board renders a tuned section's budget: an expected-best curve only where the trials were drawn."""

import pytest

from rnnreg.budget import budget_curve
from rnnreg.rendering import budget_tables


def tuned_row(label, sampler, values):
    return {"task": "t", "section": "tuned", "regularizer": label, "primary_metric": "perplexity", "n": 5,
            "budget": {"trials": len(values), "failed": 0, "budget": len(values), "metric": "valid_perplexity",
                       "sampler": sampler, "cpu_seconds": 10.0, "curve": budget_curve(values, True)}}


@pytest.mark.parametrize("sampler, table, descriptive", [
    ("random", True, False), ("qmc", True, False), (None, True, False),  # None: a study from before samplers
    ("tpe", True, True), ("gp", True, True), ("grid", False, False),
])
def test_an_expected_best_curve_only_where_trials_were_drawn_and_said_descriptive_for_adaptive_ones(
        sampler, table, descriptive):
    rows = [tuned_row("a", sampler, [44.0, 42.0, 43.0, 41.0]), tuned_row("b", sampler, [45.0, 44.0, 46.0, 43.5])]
    tables = list(budget_tables(rows))
    assert bool(tables) is table
    if table:
        [(_, _, caption, header, cells)] = tables
        assert ("curve only describes them" in caption) is descriptive
        assert [row[0] for row in cells] == ["a", "b"] and header[:3] == ["regularizer", "trials", "n = 1"]
