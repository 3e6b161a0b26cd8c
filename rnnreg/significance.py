"""The statistics behind the board and the claims: intervals, paired tests, multiple comparisons, power.

Seeds are few (1–10), so everything is exact under normal seed noise rather than asymptotic: the mean's
95 % t-interval; two rows compared by a paired t-test over the seeds both have (every regularizer gets the
same initial weights and data order per seed, so pairing removes the seed's own effect); not Wilcoxon,
whose smallest two-sided p with 5 pairs is 0.0625. A suite's claims are corrected together by Holm's
step-down procedure (it controls the family-wise error without assuming independence). For a comparison
that stays undecided, `seeds_for_power` says how many paired seeds a test of the same size would need.
"""

from __future__ import annotations

import math
import statistics

from scipy import stats

LEVEL = 0.95  # confidence of every interval
ALPHA = 0.05  # significance of every test
POWER = 0.80  # the power `seeds_for_power` asks for
MAX_SEEDS = 1000  # beyond this, "more seeds" is not a useful answer


def t_interval(values: list[float]) -> tuple[float | None, float | None]:
    """The 95 % t-interval of the mean; (None, None) below two values."""
    n = len(values)
    if n < 2:
        return None, None
    mean, sem = statistics.fmean(values), statistics.stdev(values) / math.sqrt(n)
    if sem == 0:
        return mean, mean
    low, high = stats.t.interval(LEVEL, n - 1, loc=mean, scale=sem)
    return float(low), float(high)


def mean_std(values: list[float]) -> dict:
    low, high = t_interval(values)
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "ci_low": low, "ci_high": high}


def paired(a: dict, b: dict) -> tuple[list[float], list[float]]:
    """The values of two rows on the seeds both have, in seed order."""
    shared = sorted(set(a) & set(b))
    return [a[s] for s in shared], [b[s] for s in shared]


def one_sample_p_value(values: list[float], against: float = 0.0) -> float | None:
    """Two-sided one-sample t-test of mean(values) = `against`; None below two values. Values that are all
    equal (the test is undefined): p = 1 when they equal `against`, else 0."""
    if len(values) < 2:
        return None
    if all(v == values[0] for v in values):
        return 1.0 if values[0] == against else 0.0
    return float(stats.ttest_1samp(values, against).pvalue)


def paired_p_value(a: dict, b: dict) -> float | None:
    """Two-sided paired t-test over shared seeds; None below two pairs."""
    x, y = paired(a, b)
    return one_sample_p_value([u - v for u, v in zip(x, y, strict=True)])


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values, in the given order (None stays None and does not count)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))  # step-down: never below an earlier one
        adjusted[i] = running
    return adjusted


def seeds_for_power(effect: float, spread: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """The fewest paired seeds at which a two-sided t-test at `alpha` detects a mean difference of `effect`
    with probability `power`, when the per-seed differences have standard deviation `spread` (the
    noncentral t distribution). None when the effect is zero or needs more than MAX_SEEDS."""
    if effect == 0 or not math.isfinite(effect):
        return None
    if spread == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        critical = stats.t.ppf(1 - alpha / 2, n - 1)
        shift = abs(effect) / (spread / math.sqrt(n))
        reached = stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift)
        if reached >= power:
            return n
    return None
