"""Where `rnnreg tune`'s trials go: the samplers, each a function of (sampler seed, trial number) alone.

    random  each dimension's value from a uniform draw keyed by (sampler seed, trial number, dimension
            name): common random numbers **by name**. Every study of one search that tunes `p_input` —
            a composite's `variational.p_input` included, the same site — gets the same draw for it at
            trial k, whatever order the plugins list their parameters in, so two methods are compared at
            the same points where their dimensions coincide.
    qmc     a scrambled Sobol sequence (scipy.stats.qmc, as Optuna's QMCSampler uses), seeded, point k at
            trial k; its dimensions are the study's in sorted order, so draws are shared only between
            studies with the same dimensions. Spreads points more evenly than random draws; like them it
            does not learn, so every trial is asked at once.
    grid    the listed points of every dimension, their product in order, trial k the k-th: each point
            exactly once (the budget is the grid's size).
    tpe     Optuna's TPESampler, and
    gp      Optuna's GPSampler: adaptive, one trial per study per round, each reseeded from its own trial
            number as Optuna assigned it (two drivers on one study never draw the same point because they
            share a seed).

The trial number is the one Optuna gives the trial when it is asked (`before_trial`), never a count read
beforehand, so drivers sharing a study (a server database) sample distinct trials. A fresh study asked
again draws the same points, which is how a lost study database is rebuilt from the results alone. The
expected-best estimator (rnnreg.budget) assumes independent draws: it applies to `random`; for `qmc` it
is a close approximation, for the adaptive samplers and the grid the curve is descriptive only.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import optuna

from rnnreg.errors import RnnregError
from rnnreg.searchspace import Dimension

SAMPLERS = ("random", "qmc", "grid", "tpe", "gp")
INDEPENDENT = ("random", "qmc", "grid")  # samplers that do not learn from results: every trial asked at once


def unit_draw(*key: object) -> float:
    """A uniform number in [0, 1), a pure function of `key` (53 bits of its SHA-256)."""
    digest = hashlib.sha256(":".join(map(str, key)).encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


def draw_key(name: str, space: dict[str, Dimension]) -> str:
    """The name a dimension's shared draw is keyed by: the parameter without its part (`variational.p_input`
    → `p_input`), unless two parts of this study share that parameter name (`weight-drop.p`,
    `embedding.p`), which must not move together."""
    short = name.rpartition(".")[2]
    return short if sum(1 for other in space if other.rpartition(".")[2] == short) == 1 else name


def grid_points(space: dict[str, Dimension]) -> list[dict[str, float]]:
    """Every combination of the dimensions' listed points, in order (the first dimension slowest)."""
    unlisted = [name for name, d in space.items() if d.points is None]
    if unlisted:
        raise RnnregError(f"the grid sampler needs listed points for every dimension; {', '.join(unlisted)} "
                          "is a range (list three or more values, or {points: [...]})")
    names = list(space)
    combos = itertools.product(*(space[name].points or () for name in names))
    return [dict(zip(names, combo, strict=True)) for combo in combos]


class PlannedSampler(optuna.samplers.BaseSampler):
    """Draws that do not learn: each trial's values computed from (seed, trial number) by `values_at`."""

    def __init__(self, kind: str, seed: int, space: dict[str, Dimension]):
        self.kind, self.seed, self.space = kind, seed, space
        self._sobol: list[list[float]] = []

    def values_at(self, number: int) -> dict[str, float]:
        if self.kind == "grid":
            points = grid_points(self.space)
            if number >= len(points):
                raise RnnregError(f"trial {number} is past the grid's {len(points)} points")
            return points[number]
        if self.kind == "qmc":
            names = sorted(self.space)
            units = dict(zip(names, self.sobol(number + 1, len(names))[number], strict=True))
        else:
            units = {name: unit_draw(self.seed, number, draw_key(name, self.space)) for name in self.space}
        return {name: self.space[name].value_at(u) for name, u in units.items()}

    def sobol(self, count: int, dimensions: int) -> list[list[float]]:
        if len(self._sobol) < count:
            from scipy.stats import qmc

            engine = qmc.Sobol(d=max(1, dimensions), scramble=True, seed=self.seed)
            self._sobol = engine.random(1 << max(0, (count - 1).bit_length())).tolist()  # powers of 2 keep balance
        return self._sobol

    def infer_relative_search_space(self, study, trial) -> dict:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def sample_independent(self, study, trial, param_name: str, param_distribution) -> Any:
        return self.values_at(trial.number)[param_name]


class ReseededSampler(optuna.samplers.BaseSampler):
    """An adaptive Optuna sampler made afresh for each trial, seeded by (seed, the trial's own number)."""

    def __init__(self, kind: str, seed: int):
        self.kind, self.seed = kind, seed
        self._inner = self.make(seed)

    def make(self, seed: int):
        if self.kind == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed)

    def before_trial(self, study, trial) -> None:
        self._inner = self.make(int(unit_draw(self.seed, trial.number) * 2**31))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial) -> dict:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space) -> dict:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name: str, param_distribution) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._inner.after_trial(study, trial, state, values)


def make_sampler(kind: str, seed: int, space: dict[str, Dimension]):
    if kind not in SAMPLERS:
        raise RnnregError(f"unknown sampler {kind!r} (samplers: {', '.join(SAMPLERS)})")
    if kind in INDEPENDENT:
        return PlannedSampler(kind, seed, space)
    return ReseededSampler(kind, seed)
