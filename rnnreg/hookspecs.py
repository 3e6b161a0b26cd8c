"""Hook specifications: the whole contract between rnnreg and its plugins.

A plugin is a module (or any object) with functions decorated by `rnnreg.hookimpl` whose names match the
specs below. Each hook receives a `register` callable and calls it once per class it contributes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from rnnreg.observer import Observer
    from rnnreg.regularizer import Regularizer
    from rnnreg.tasks.base import Task

hookspec = pluggy.HookspecMarker("rnnreg")


@hookspec
def register_regularizers(register: Callable[[type[Regularizer]], None]) -> None:
    """Register regularizer classes: call `register(cls)` for each subclass of `rnnreg.Regularizer`.

    The class is the contract (see `rnnreg.Regularizer`'s docstring): its name, description, version,
    params (and choices, search_space), plan() and penalty(); every declaration is checked on load."""


@hookspec
def register_tasks(register: Callable[[type[Task]], None]) -> None:
    """Register task classes: call `register(cls)` for each subclass of `rnnreg.Task` (see its docstring);
    every declaration is checked on load."""


@hookspec
def register_observers(register: Callable[[type[Observer]], None]) -> None:
    """Register observer classes: call `register(cls)` for each subclass of `rnnreg.Observer` (see its
    docstring): loggers and trackers that watch jobs as they run, chosen with `rnnreg run --log NAME`."""
