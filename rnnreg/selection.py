"""Choosing a tuned configuration without the winner's curse, as `rnnreg tune` does and the board retells.

The best of N trials on one seed is optimistic: part of why it won is its seed's luck, and a retraining on
the same seed repeats the luck. So a study's candidates — its search trials and the regularizer as the
suite states it (the reference, which a practitioner always tries) — are ranked by their first-seed
validation number; the top K (the finalists) are trained again on S more seeds; the finalist with the best
mean over its 1 + S seeds is chosen; and the tuned row is trained on seeds that no trial and no recheck
used. What the selecting seeds promised minus what the fresh seeds gave is the selection's optimism.

Pure functions of the numbers: the tuner decides with them, the board recomputes the same decisions from
the result files.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

REFERENCE = "reference"


@dataclass(frozen=True)
class Candidate:
    """One configuration a study may choose: `key` is "reference" or "trial N"; `first` its validation number
    on the study's seed (None: it failed); `rechecks` those on the recheck seeds (None where one failed)."""

    key: str
    first: float | None
    rechecks: tuple[float | None, ...] = ()

    def selecting_values(self) -> list[float] | None:
        """Every number it was selected on, or None when one of them is missing (failed)."""
        values = [self.first, *self.rechecks]
        return None if any(v is None for v in values) else [float(v) for v in values if v is not None]


def ordered(candidates: list[Candidate], higher_is_better: bool) -> list[Candidate]:
    """Candidates that finished, best first by their first-seed number; ties keep the given order (the
    reference first, then trials by number)."""
    sign = -1.0 if higher_is_better else 1.0
    finished = [(i, c) for i, c in enumerate(candidates) if c.first is not None]
    return [c for _, c in sorted(finished, key=lambda item: (sign * float(item[1].first or 0.0), item[0]))]


def finalists(candidates: list[Candidate], k: int, higher_is_better: bool) -> list[Candidate]:
    return ordered(candidates, higher_is_better)[:k]


def winner(chosen_from: list[Candidate], higher_is_better: bool) -> Candidate | None:
    """The finalist with the best mean over its selecting seeds (a finalist with a failed recheck cannot
    win); ties go to the better first-seed rank."""
    sign = -1.0 if higher_is_better else 1.0
    scored = [(sign * statistics.fmean(values), i, c) for i, c in enumerate(chosen_from)
              if (values := c.selecting_values())]
    return min(scored, key=lambda item: (item[0], item[1]))[2] if scored else None


def optimism(selecting: list[float], finals: list[float]) -> float | None:
    """Mean over the selecting seeds minus mean over the final seeds: negative for a lower-is-better metric
    when the selection was lucky."""
    if not selecting or not finals:
        return None
    return statistics.fmean(selecting) - statistics.fmean(finals)
