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
from typing import Any, ClassVar

import torch

KINDS = ("language-model", "classification", "regression")
PRIMARY_METRIC = {"language-model": "perplexity", "classification": "error", "regression": "rmse"}
HIGHER_IS_BETTER = {"perplexity": False, "error": False, "rmse": False, "loss": False}


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
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    kind: ClassVar[str] = "language-model"
    # Defaults a suite can override, key by key: model shape and training budget.
    model: ClassVar[dict[str, Any]] = {}
    train: ClassVar[dict[str, Any]] = {}

    def load(self, data_dir: Path | None) -> LMData | SequenceData:
        raise NotImplementedError

    def oracle(self, data: LMData | SequenceData) -> dict[str, dict[str, float]] | None:
        """Best achievable metric per split ({"test": {"perplexity": 12.3}}), when the process is known."""
        return None

    @property
    def primary_metric(self) -> str:
        return PRIMARY_METRIC[self.kind]
