"""What `rnnreg tune` searches: one range per tunable parameter, from the plugins, narrowed by the suite.

By default every float parameter a regularizer declares is tunable:
  - a dropout probability (`p`, `p_*`) uniformly over [0, 0.8];
  - any other positive float (a loss weight such as AR/TAR's alpha and beta) log-uniformly over a decade
    either side of its default.
Integers, booleans and strings are fixed at their values. A plugin may replace these rules for its own
parameters with `search_space = {"p_recurrent": (0.0, 0.5), "alpha": (0.1, 10.0, "log"), "beta": None}`
(None: not tuned). A suite may narrow a range or fix a parameter per regularizer label, and add shared
training knobs that every regularizer then gets alike:

    tune:
      space: {variational: {p_input: [0.0, 0.5]}, awd: {p_recurrent: null}}
      shared: {train.weight_decay: [1.0e-7, 1.0e-4, log]}

A range of three or more numbers, or `{points: [...]}`, lists the values to try instead (the `grid` sampler
visits each once, in order). Instead of the probabilities one by one, a suite may tune one **strength**
for every regularizer: a factor on all of a regularizer's dropout probabilities alike, its ratios kept
(`dropout_scale`'s rule; loss weights such as AR/TAR's stay), e.g. for an expensive task

    tune:
      strength: [0.25, 0.5, 0.75, 1.0]      # or a range, [0.25, 1.0]; within (0, 2]

Every range is checked when it is declared — an unknown parameter, low > high, a probability range
outside [0, 1), a log range that is not positive — so a bad space is a one-line error before any trial.
A composite regularizer's dimensions are named `part.param` (`embedding.p`), as `--param` names them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnnreg.errors import RnnregError
from rnnreg.params import is_probability, param_key

if TYPE_CHECKING:
    from rnnreg.registry import Registry
    from rnnreg.regularizer import Regularizer

PROBABILITY_RANGE = (0.0, 0.8)  # the default range of every dropout probability
LOG_DECADES = 1.0  # other positive floats: default × 10^±1


STRENGTH = "strength"  # the dimension that scales every dropout probability of a regularizer alike
STRENGTH_RANGE = (0.0, 2.0)  # exclusive of 0 (no dropout is the `none` row's business), inclusive of 2


@dataclass(frozen=True)
class Dimension:
    """One tuned parameter: a float drawn from [low, high], uniformly or log-uniformly, or one of the listed
    `points` (in their order, for the grid sampler)."""

    name: str
    low: float
    high: float
    log: bool = False
    points: tuple[float, ...] | None = None

    def distribution(self) -> Any:
        import optuna

        if self.points is not None:
            return optuna.distributions.CategoricalDistribution(self.points)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)

    def value_at(self, u: float) -> float:
        """The value at quantile u in [0, 1) of this dimension's distribution (how a shared uniform draw
        becomes this dimension's value)."""
        if self.points is not None:
            return self.points[min(int(u * len(self.points)), len(self.points) - 1)]
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def near_edge(self, value: float, share: float = 0.05) -> str | None:
        """"low" or "high" when `value` lies within `share` of this range's width from that edge (on the log
        scale for a log range): the optimum may lie outside the range. None for points, or inside."""
        if self.points is not None or self.high <= self.low:
            return None
        scale = math.log if self.log else (lambda x: x)
        position = (scale(value) - scale(self.low)) / (scale(self.high) - scale(self.low))
        return "low" if position <= share else "high" if position >= 1 - share else None

    def raw(self) -> list | dict:
        """As a suite writes it (and a result's study record keeps it): parse_range reads it back."""
        if self.points is not None:
            return {"points": list(self.points)}
        return [self.low, self.high, "log"] if self.log else [self.low, self.high]

    def describe(self) -> str:
        if self.points is not None:
            return "{" + ", ".join(f"{v:g}" for v in self.points) + "}"
        return f"{self.low:g}..{self.high:g}" + (" log" if self.log else "")


def parse_range(owner: str, name: str, raw: object) -> Dimension | None:
    """(low, high), (low, high, "log"), three or more numbers or {points: [...]} → a checked Dimension;
    None means "not tuned"."""
    if raw is None:
        return None
    listed = raw.get("points") if isinstance(raw, Mapping) and set(raw) == {"points"} else (
        raw if isinstance(raw, (list, tuple)) and len(raw) >= 3 and raw[2] != "log" else None)
    if listed is not None:
        return parse_points(owner, name, listed)
    if not isinstance(raw, (list, tuple)) or len(raw) not in (2, 3) or (len(raw) == 3 and raw[2] != "log"):
        raise RnnregError(f"{owner}: search range of {name!r} must be [low, high], [low, high, log], three or more "
                          f"values or {{points: [...]}}, got {raw!r}")
    low, high = raw[0], raw[1]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (low, high)):
        raise RnnregError(f"{owner}: search range of {name!r} must hold numbers, got {raw!r}")
    low, high, log = float(low), float(high), len(raw) == 3
    if low > high:
        raise RnnregError(f"{owner}: search range of {name!r} has low {low:g} > high {high:g}")
    if is_probability(name.rpartition(".")[2]) and not (0.0 <= low and high < 1.0):
        raise RnnregError(f"{owner}: search range of probability {name!r} must lie in [0, 1), got [{low:g}, {high:g}]")
    if log and low <= 0:
        raise RnnregError(f"{owner}: log search range of {name!r} must be positive, got low {low:g}")
    if name == STRENGTH and not (STRENGTH_RANGE[0] < low and high <= STRENGTH_RANGE[1]):
        raise RnnregError(f"{owner}: strength must lie in (0, 2], got [{low:g}, {high:g}]")
    return Dimension(name, low, high, log)


def parse_points(owner: str, name: str, raw: object) -> Dimension:
    """The listed values of one dimension, each checked as a range's ends would be."""
    if not isinstance(raw, (list, tuple)) or not raw or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw):
        raise RnnregError(f"{owner}: the points of {name!r} must be a list of numbers, got {raw!r}")
    points = tuple(float(v) for v in raw)
    if len(set(points)) < len(points):
        raise RnnregError(f"{owner}: the points of {name!r} list a value twice: {list(points)}")
    parse_range(owner, name, [min(points), max(points)])  # the same bounds as a range of them
    return Dimension(name, min(points), max(points), points=points)


def strength_space(raw: object, owner: str) -> dict[str, Dimension]:
    """`tune.strength`: the one dimension every regularizer of the suite is tuned on."""
    dimension = parse_range(f"{owner}: tune.strength", STRENGTH, raw)
    return {STRENGTH: dimension} if dimension is not None else {}


def plugin_space(cls: type[Regularizer], owner: str) -> dict[str, Dimension]:
    """A regularizer class's own space: the default rules, then what the class declares."""
    declared = getattr(cls, "search_space", {}) or {}
    if not isinstance(declared, Mapping):
        raise RnnregError(f"{owner}: 'search_space' must be a dict of parameter → (low, high[, 'log']) or None")
    space: dict[str, Dimension] = {}
    for name, default in cls.params.items():
        if type(default) is not float:
            continue
        if is_probability(name):
            space[name] = Dimension(name, *PROBABILITY_RANGE)
        elif default > 0:
            space[name] = Dimension(name, default / 10**LOG_DECADES, default * 10**LOG_DECADES, log=True)
    for name, raw in declared.items():
        if name not in cls.params or type(cls.params[name]) is not float:
            floats = [k for k, v in cls.params.items() if type(v) is float]
            raise RnnregError(f"{owner}: search_space names {name!r}, which is not a float parameter "
                              f"({', '.join(floats) or 'none'})")
        dimension = parse_range(owner, name, raw)
        if dimension is None:
            space.pop(name, None)
        else:
            space[name] = dimension
    return space


def space_of(spec: str, registry: Registry[type[Regularizer]], fixed: Mapping[str, Any] | None = None,
             narrowed: Mapping[str, object] | None = None, owner: str = "") -> dict[str, Dimension]:
    """The dimensions tuned for one suite entry: its parts' spaces (named `part.param` in a composite),
    less the parameters the entry fixes, narrowed or removed by the suite's `tune.space` for its label."""
    names = [name.strip() for name in spec.split("+")]
    space: dict[str, Dimension] = {}
    for name in names:
        for key, dimension in plugin_space(registry.get(name).cls, f"regularizer {name!r}").items():
            full = param_key(name, key, len(names) > 1)
            space[full] = Dimension(full, dimension.low, dimension.high, dimension.log)
    for key in fixed or {}:  # a parameter the suite entry sets is that entry's definition, not a knob
        part, dot, param = key.rpartition(".")
        if not dot:
            part = next((n for n in names if key in registry.get(n).cls.params), "")
        space.pop(param_key(part, param, len(names) > 1), None)
    for key, raw in (narrowed or {}).items():
        if key not in space and raw is not None:
            raise RnnregError(f"{owner or spec}: tune.space names {key!r}, which {spec!r} does not tune "
                              f"({', '.join(space) or 'nothing'})")
        narrow = parse_range(owner or spec, key, raw)
        if narrow is None:
            space.pop(key, None)
        else:
            space[key] = narrow
    return space


def shared_space(raw: Mapping[str, object], owner: str) -> dict[str, Dimension]:
    """The suite's shared training knobs (`train.weight_decay: [1e-7, 1e-4, log]`), given to every
    regularizer alike."""
    space = {}
    for key, value in raw.items():
        section, dot, name = key.partition(".")
        if section != "train" or not dot or not name:
            raise RnnregError(f"{owner}: tune.shared key {key!r} must name a training setting (train.NAME)")
        dimension = parse_range(owner, key, value)
        if dimension is not None:
            space[key] = dimension
    return space
