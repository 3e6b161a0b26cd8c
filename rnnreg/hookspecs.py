"""Hook specifications: the whole contract between rnnreg and its plugins.

A plugin is a module (or any object) with functions decorated by `rnnreg.hookimpl` whose names match the
specs below. Each hook receives a `register` callable and calls it once per class it contributes.
"""

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("rnnreg")


@hookspec
def register_regularizers(register: Callable[[type], None]) -> None:
    """Register regularizer classes: call `register(cls)` for each subclass of `rnnreg.Regularizer`."""


@hookspec
def register_tasks(register: Callable[[type], None]) -> None:
    """Register task classes: call `register(cls)` for each subclass of `rnnreg.Task`."""
