"""How much a validation curve overfits: the largest rise of the smoothed curve above its running minimum,
beyond what the curve's own noise reaches over its length, relative to its best.

"(last − best) / best" is never negative, so a flat, noisy curve scores above zero — more so the longer it
trains — and a curve that overfits and then recovers scores nothing. Here instead:

    s      = the curve smoothed by a moving mean over `window` epochs
    rise   = max over t of (s[t] − min(s[0..t]))          (a rise anywhere, recovered or not)
    noise  = the standard deviation of the curve's epoch-to-epoch noise, from its second differences (a
             trend, steady or slowly bending, does not count as noise), divided by √window for the smoothing
    excess = max(0, rise − 2·noise·√(2 ln n)) / min(s)    (2·√(2 ln n)·σ: about the range n noise draws span)

A flat curve with noise, of any length, scores about 0; a steady decline 0; a U or a rise-and-recover the
height of its rise, less the noise allowance. Curves are lower-is-better (rnnreg's metrics all are).
Claims test the unclipped margin (rise − allowance) / best over seeds, so that "within noise" is a number
with a spread, not a row of zeros.
"""

from __future__ import annotations

import math
import statistics

WINDOW = 3


def smoothed(curve: list[float], window: int = WINDOW) -> list[float]:
    """Trailing moving mean (the first points average what exists so far)."""
    return [statistics.fmean(curve[max(0, i - window + 1):i + 1]) for i in range(len(curve))]


def noise_level(curve: list[float]) -> float:
    """The epoch-to-epoch noise's standard deviation, from second differences: a trend, steady or slowly
    bending, has second differences near zero, white noise of variance σ² has 6σ²."""
    second = [a - 2 * b + c for a, b, c in zip(curve, curve[1:], curve[2:], strict=False)]
    if len(second) < 2:
        return 0.0
    return math.sqrt(statistics.fmean(d * d for d in second) / 6)


def overfit_margin(curve: list[float], window: int = WINDOW) -> float | None:
    """(rise − noise allowance) / best, unclipped: negative when the curve stayed within its noise (how far
    within, which a test over seeds needs); None for fewer than two epochs."""
    if len(curve) < 2:
        return None
    window = min(window, len(curve))
    s = smoothed(curve, window)
    lowest, rise = s[0], 0.0
    for value in s:
        lowest = min(lowest, value)
        rise = max(rise, value - lowest)
    allowance = 2 * noise_level(curve) / math.sqrt(window) * math.sqrt(2 * math.log(len(curve)))
    best = min(s)
    return (rise - allowance) / abs(best) if best else None


def overfit_excess(curve: list[float], window: int = WINDOW) -> float | None:
    """The relative rise beyond noise (see the module docstring), 0 for a curve within its noise."""
    margin = overfit_margin(curve, window)
    return None if margin is None else max(0.0, margin)
