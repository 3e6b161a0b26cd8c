"""Expected best validation score after n tuning trials (Dodge et al. 2019, "Show Your Work").

From N observed trials of a random search, the expected best of n of them drawn **without replacement**
(Tang et al. 2020: the with-replacement form is biased). For a lower-is-better metric, sort the values
v(1) <= ... <= v(N); the best of a random n-subset is v(i) with probability C(N - i, n - 1) / C(N, n)
(the subset holds v(i) and n - 1 of the N - i values above it). The band is that distribution's standard
deviation: how far one search of n trials may land from the expectation. The estimator assumes the
trials are independent draws, as a random search's are (a scrambled Sobol sequence's nearly so); for an
adaptive sampler (TPE, GP) the curve is descriptive only, and a grid is no sample at all: its points are
shown as the search's curve instead (rnnreg.tuned.search_curve).
"""

from __future__ import annotations

import math

ADAPTIVE_SAMPLERS = ("tpe", "gp")  # each trial chosen from the ones before: the curve describes, not estimates


def searched_by_draws(sampler: str | None) -> bool:
    """Whether a search by `sampler` drew its trials, so that an expected best after n of them means
    something: every sampler but the grid (a study from before samplers were recorded drew at random)."""
    return sampler != "grid"


def best_of_n(values: list[float], n: int, lower_is_better: bool = True) -> tuple[float, float]:
    """(expected best, its standard deviation) over the n-subsets of `values`, 1 <= n <= len(values)."""
    ordered = sorted(values, reverse=not lower_is_better)
    total = len(ordered)
    if not 1 <= n <= total:
        raise ValueError(f"n must be in 1..{total}, got {n}")
    subsets = math.comb(total, n)
    weights = [math.comb(total - i, n - 1) / subsets for i in range(1, total + 1)]
    mean = math.fsum(w * v for w, v in zip(weights, ordered, strict=True))
    variance = math.fsum(w * (v - mean) ** 2 for w, v in zip(weights, ordered, strict=True))
    return mean, math.sqrt(max(variance, 0.0))


def budget_curve(values: list[float], lower_is_better: bool = True, up_to: int | None = None) -> list[dict]:
    """[{"n", "mean", "sd"}] for n = 1..N, or 1..up_to: the draws of several searches pooled estimate the
    curve of one search's budget, not one of their combined size (whose last point has no spread at all)."""
    last = len(values) if up_to is None else min(up_to, len(values))
    return [dict(zip(("n", "mean", "sd"), (n, *best_of_n(values, n, lower_is_better)), strict=True))
            for n in range(1, last + 1)]
