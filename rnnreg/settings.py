"""The typed schema of task settings (`model.*`, `train.*`), checked before anything trains.

A suite's overrides and `--set section.key=value` go through `check_setting`: the key must be one the
task declares, and the value must have the right type and lie in the allowed range. Known keys have a
rule here; a task plugin's own keys take their type from the task's default, as regularizer parameters do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnreg.errors import RnnregError


@dataclass(frozen=True)
class Rule:
    kind: type  # bool, int, float or str
    low: float | None = None  # inclusive bound
    positive: bool = False  # strictly above `low`
    choices: tuple = ()
    nullable: bool = False  # None ("null" in YAML) means "use the default behaviour"

    def allowed(self) -> str:
        if self.choices:
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.kind is bool:
            text = "true or false"
        else:
            noun = "an integer" if self.kind is int else "a number"
            bound = "" if self.low is None else f" {'>' if self.positive else '≥'} {self.low:g}"
            text = noun + bound
        return text + (" or null" if self.nullable else "")


SCHEMA = {
    "model": {
        "cell": Rule(str, choices=("lstm", "gru")),
        "hidden_size": Rule(int, low=1),
        "embed_size": Rule(int, low=1, nullable=True),
        "num_layers": Rule(int, low=1),
        "init_scale": Rule(float, low=0, positive=True, nullable=True),
    },
    "train": {
        "epochs": Rule(int, low=1),
        "batch_size": Rule(int, low=1),
        "bptt": Rule(int, low=1),
        "lr": Rule(float, low=0, positive=True),
        "lr_decay": Rule(float, low=1),
        "decay_after": Rule(int, low=0),
        "clip": Rule(float, low=0, positive=True),
        "weight_decay": Rule(float, low=0),
        "weight_decay_mode": Rule(str, choices=("coupled", "decoupled")),
        "standardize_targets": Rule(bool),
        "max_steps": Rule(int, low=0),
    },
}


def rule_for(section: str, key: str, default: Any) -> Rule:
    known = SCHEMA.get(section, {}).get(key)
    if known is not None:
        return known
    return Rule(type(default) if default is not None else str, nullable=default is None)


def check_setting(task_cls, section: str, key: str, value: Any, where: str) -> Any:
    """The checked value of `section.key` for a task; `where` names the source in the error."""
    declared = getattr(task_cls, section, None) if section in SCHEMA else None
    if declared is None or key not in declared:
        allowed = ", ".join(f"{s}.{k}" for s in SCHEMA for k in getattr(task_cls, s, {}))
        raise RnnregError(f"{where}: unknown setting '{section}.{key}' for task {task_cls.name!r} (allowed: {allowed})")
    rule = rule_for(section, key, declared[key])
    if value is None and rule.nullable:
        return None
    ok = isinstance(value, rule.kind) and not (rule.kind is not bool and isinstance(value, bool))
    if rule.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if ok and rule.choices:
        ok = value in rule.choices
    if ok and rule.low is not None:
        ok = value > rule.low if rule.positive else value >= rule.low
    if not ok:
        raise RnnregError(f"{where}: {section}.{key} must be {rule.allowed()}, got {value!r}")
    return value
