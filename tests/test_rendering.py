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


def test_two_searches_pooled_are_read_at_one_searchs_budget_not_their_sum():
    pooled = [44.0, 42.0, 43.0, 41.0, 45.5, 42.5, 43.5, 40.5]  # two searches of 4 draws
    one = [45.0, 44.0, 46.0, 43.5]  # one search of 4
    rows = [tuned_row("a", "random", pooled), tuned_row("b", "random", one)]
    rows[0]["budget"] |= {"budget": 8, "per_search": 4, "searches": 2, "curve": budget_curve(pooled, True, 4),
                          "cpu_seconds": 10.0}
    rows[1]["budget"] |= {"per_search": 4, "searches": 1, "cpu_seconds": 5.0}
    [(_, _, caption, header, cells)] = list(budget_tables(rows))
    assert header[2:5] == ["n = 1", "n = 4", "CPU s a trial"]  # no n = 8: no search had 8 trials
    assert cells[0][1] == "8 in 2 searches" and "up to one search's 4 trials" in caption
    # equal compute: the CPU time of 4 trials of the cheapest (b, 5 s) buys a 2 of its 10 s trials
    assert cells[0][-1].endswith("(n 2)") and cells[1][-1].endswith("(n 4)")
