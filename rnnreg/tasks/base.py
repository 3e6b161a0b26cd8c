"""The task interface: a task owns its data, its model shape, its training defaults and its metrics.

Three kinds share one trainer each (see `rnnreg.trainer`):
    language-model  — a token stream; metric perplexity; trained by truncated BPTT with state carried over
    classification  — labelled token sequences; metric error rate; Adam
    regression      — token sequences with a real target; metric RMSE; Adam
A task plugin subclasses `Task`, fills in `load`, and optionally `oracle` (the best achievable metric
when the data come from a known process).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # a task's declaration needs no torch: only its `load` builds tensors
    import torch

KINDS = ("language-model", "classification", "regression")
from rnnreg.metrics import HIGHER_IS_BETTER, PRIMARY_METRIC  # noqa: E402,F401  (re-exported: tasks name them)


@dataclass
class LMData:
    """Token streams for language modelling: 1-D LongTensors of word ids."""

    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    vocab_size: int


@dataclass
class SequenceData:
    """Left-padded (N, T) LongTensors of word ids (0 is padding) with targets per sequence."""

    train: tuple[torch.Tensor, torch.Tensor]
    valid: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    vocab_size: int
    num_outputs: int  # classes for classification, 1 for regression


class Task:
    """A task plugin: data, a model shape, a training budget and a metric that regularizers are compared on.

    Declare, as class attributes:
      name         the registry name (`rnnreg run -t NAME`); no '+', '=' or spaces;
      description  one line for `rnnreg tasks list`;
      version      bump it when the data or the metric change: it is part of every job's config hash;
      kind         "language-model", "classification" or "regression" (which trainer, which metric);
      model        defaults a suite may override key by key (hidden_size, num_layers, cell, ...);
      train        the training budget's defaults (epochs, lr, batch_size, ...);
      published    optional: {source: {"valid_perplexity": ..., "test_perplexity": ...}}, printed beside
                   comparable rows on the board (facts about papers, read from the task, not from runs).
    and implement `load(data_dir)` (and `oracle(data)` when the data come from a known process). Every
    declaration is checked when the plugin is loaded (`check_task_class`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    kind: ClassVar[str] = "language-model"
    # Defaults a suite can override, key by key: model shape and training budget.
    model: ClassVar[dict[str, Any]] = {}
    train: ClassVar[dict[str, Any]] = {}
    published: ClassVar[dict[str, dict[str, float]] | None] = None

    def load(self, data_dir: Path | None) -> LMData | SequenceData:
        raise NotImplementedError

    def oracle(self, data: LMData | SequenceData) -> dict[str, dict[str, float]] | None:
        """Best achievable metric per split ({"test": {"perplexity": 12.3}}), when the process is known."""
        return None

    @property
    def primary_metric(self) -> str:
        return PRIMARY_METRIC[self.kind]


def check_task_class(cls: object, origin: str) -> None:
    """A task plugin's declarations, checked when it loads, as a regularizer's are: nothing it declares
    may be silently ignored or fail later, mid-run."""
    from rnnreg.errors import RnnregError

    where = f"task {getattr(cls, 'name', '?')!r} from {origin}"
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise RnnregError(f"{where}: {cls!r} is not a subclass of rnnreg.Task")
    if cls.kind not in KINDS:
        raise RnnregError(f"{where}: kind {cls.kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(cls.description, str) or not isinstance(cls.version, str):
        raise RnnregError(f"{where}: 'description' and 'version' must be strings")
    for part in ("model", "train"):
        if not isinstance(getattr(cls, part), dict):
            raise RnnregError(f"{where}: {part!r} must be a dict of defaults")
    if cls.load is Task.load:
        raise RnnregError(f"{where}: defines no load(data_dir)")
    published = cls.published
    if published is not None:
        good = isinstance(published, dict) and all(
            isinstance(source, str) and isinstance(values, dict)
            and all(isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                    for k, v in values.items())
            for source, values in published.items())
        if not good:
            raise RnnregError(f"{where}: 'published' must map a source to {{metric name: number}}")

