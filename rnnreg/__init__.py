"""rnnreg: compare regularizers for recurrent neural networks, as plugins, on shared tasks.

The plugin API (`Regularizer`, `SiteRule`, `Task`, ...) is imported on first use, not with the package:
those modules import torch (about 2 s), which `rnnreg --help` and the reading commands do not need.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

import pluggy

# torch warns at import when NumPy is absent; rnnreg never hands tensors to NumPy, so the warning is noise.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

__version__ = "0.5.0"

# The release whose numbers this one reproduces, bit for bit on one machine: what a job's config records as
# `versions.rnnreg`, and so part of its cache key. It moves to the new release's version only when a change
# moves numbers (CONTRIBUTING.md, "When to bump the version"): a release that changes no number keeps every
# cached and committed result valid. The release that wrote a file is its `rnnreg_version`.
NUMERICS_VERSION = "0.4.0"

hookimpl = pluggy.HookimplMarker("rnnreg")

# name → module that defines it, imported when the name is first read (PEP 562)
_LAZY = {
    "SiteRule": "rnnreg.dropout",
    "RnnregError": "rnnreg.errors",
    "Regularizer": "rnnreg.regularizer",
    "LMData": "rnnreg.tasks.base",
    "Observer": "rnnreg.observer",
    "JobStarted": "rnnreg.observer",
    "EpochEnded": "rnnreg.observer",
    "JobFinished": "rnnreg.observer",
    "SequenceData": "rnnreg.tasks.base",
    "Task": "rnnreg.tasks.base",
}

if TYPE_CHECKING:  # what type checkers and editors see: the real classes
    from rnnreg.dropout import SiteRule
    from rnnreg.errors import RnnregError
    from rnnreg.observer import EpochEnded, JobFinished, JobStarted, Observer
    from rnnreg.regularizer import Regularizer
    from rnnreg.tasks.base import LMData, SequenceData, Task


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnreg' has no attribute {name!r}")


__all__ = ["hookimpl", "EpochEnded", "JobFinished", "JobStarted", "LMData", "Observer", "Regularizer", "RnnregError",
           "SequenceData", "SiteRule", "Task", "NUMERICS_VERSION", "__version__"]
