"""The metric vocabulary shared by training and the reading side, in a module that imports nothing heavy:
the board, claims and `reproduce` read it without importing torch.

A result names each number `{split}_{metric}`, with `_mc` for MC dropout's (`valid_perplexity`,
`test_error_mc`): `metric_name` writes such a name, `MetricName.parse` reads one, and nothing else spells
or splits them. `Result` is the thin view the reading side uses to ask a result for its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIMARY_METRIC = {"language-model": "perplexity", "classification": "error", "regression": "rmse"}
HIGHER_IS_BETTER = {"perplexity": False, "error": False, "rmse": False, "loss": False}
SPLITS = ("train", "valid", "test")


def metric_name(metric: str, split: str = "valid", mc: bool = False) -> str:
    """The name a result gives `metric` on `split` (`mc`: averaged over MC dropout passes)."""
    return f"{split}_{metric}" + ("_mc" if mc else "")


@dataclass(frozen=True)
class MetricName:
    """A metric's name read back into its parts."""

    split: str
    metric: str
    mc: bool = False

    @classmethod
    def parse(cls, name: str) -> MetricName:
        split, _, rest = name.partition("_")
        metric, mc = (rest[: -len("_mc")], True) if rest.endswith("_mc") else (rest, False)
        return cls(split, metric, mc)

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]

    def __str__(self) -> str:
        return metric_name(self.metric, self.split, self.mc)


def primary_metric_of(result: dict) -> str:
    """The metric a result is ranked and selected on: its task's, as the result records it."""
    task = result["task"]
    return task.get("primary_metric") or PRIMARY_METRIC[task.get("kind", "language-model")]


@dataclass(frozen=True)
class Result:
    """A read-only view of one result file's numbers: which metric ranks it, and each split's value."""

    data: dict

    @property
    def ok(self) -> bool:
        return self.data.get("status") == "ok"

    @property
    def primary(self) -> str:
        return primary_metric_of(self.data)

    def name(self, split: str = "valid", mc: bool = False) -> str:
        """The name of the primary metric on `split`."""
        return metric_name(self.primary, split, mc)

    def value(self, split: str = "valid", mc: bool = False) -> float | None:
        """The primary metric on `split`; None when the job failed or did not measure it."""
        entry = (self.data.get("metrics") or {}).get(self.name(split, mc)) if self.ok else None
        return None if entry is None else entry["value"]

    def curve(self, split: str = "valid") -> list[float]:
        """The primary metric on `split` after each epoch that measured it."""
        name = self.name(split)
        return [epoch[name] for epoch in self.data.get("curves", []) if name in epoch]

    @property
    def has_mc(self) -> bool:
        return any(MetricName.parse(name).mc for name in self.data.get("metrics") or {})
