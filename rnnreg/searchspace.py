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

Every range is checked when it is declared — an unknown parameter, low > high, a probability range
outside [0, 1), a log range that is not positive — so a bad space is a one-line error before any trial.
A composite regularizer's dimensions are named `part.param` (`embedding.p`), as `--param` names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnnreg.errors import RnnregError

if TYPE_CHECKING:
    from rnnreg.registry import Registry
    from rnnreg.regularizer import Regularizer

PROBABILITY_RANGE = (0.0, 0.8)  # the default range of every dropout probability
LOG_DECADES = 1.0  # other positive floats: default × 10^±1


def is_probability(name: str) -> bool:
    return name == "p" or name.startswith("p_")


@dataclass(frozen=True)
class Dimension:
    """One tuned parameter: a float drawn from [low, high], uniformly or log-uniformly."""

    name: str
    low: float
    high: float
    log: bool = False

    def distribution(self) -> Any:
        import optuna

        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)

    def describe(self) -> str:
        return f"{self.low:g}..{self.high:g}" + (" log" if self.log else "")


def parse_range(owner: str, name: str, raw: object) -> Dimension | None:
    """(low, high) or (low, high, "log") → a checked Dimension; None means "not tuned"."""
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or len(raw) not in (2, 3) or (len(raw) == 3 and raw[2] != "log"):
        raise RnnregError(f"{owner}: search range of {name!r} must be [low, high] or [low, high, log], got {raw!r}")
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
    return Dimension(name, low, high, log)


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
            full = f"{name}.{key}" if len(names) > 1 else key
            space[full] = Dimension(full, dimension.low, dimension.high, dimension.log)
    for key in fixed or {}:  # a parameter the suite entry sets is that entry's definition, not a knob
        part, dot, param = key.rpartition(".")
        if not dot:
            part = next((n for n in names if key in registry.get(n).cls.params), "")
        space.pop(f"{part}.{param}" if len(names) > 1 else param, None)
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
