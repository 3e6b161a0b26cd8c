"""Plugin discovery, in one function: hookspecs → built-ins → entry points → a local plugins folder.

Built-in regularizers, tasks and observers are ordinary plugins registered through the same hooks as third-party
ones; the only difference is that they are loaded even when entry-point autoloading is switched off with
RNNREG_DISABLE_PLUGIN_AUTOLOAD=1.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pluggy

from rnnreg import hookspecs
from rnnreg.errors import RnnregError
from rnnreg.observer import Observer, check_observer_class
from rnnreg.registry import Registry
from rnnreg.regularizer import Regularizer, check_penalty_runs, check_regularizer_class
from rnnreg.tasks.base import Task, check_task_class

ENTRY_POINT_GROUP = "rnnreg"
AUTOLOAD_OFF_ENV = "RNNREG_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_DIR_ENV = "RNNREG_PLUGINS_DIR"

BUILTIN_MODULES = (
    "rnnreg_plugins.none",
    "rnnreg_plugins.naive",
    "rnnreg_plugins.zaremba",
    "rnnreg_plugins.moon",
    "rnnreg_plugins.variational",
    "rnnreg_plugins.embedding",
    "rnnreg_plugins.semeniuta",
    "rnnreg_plugins.zoneout",
    "rnnreg_plugins.weight_drop",
    "rnnreg_plugins.ar_tar",
    "rnnreg_plugins.gaussian",
    "rnnreg_plugins.concrete",
    "rnnreg_plugins.tensorboard_log",
    "rnnreg_plugins.mlflow_log",
    "rnnreg.tasks.builtin",
)


@dataclass
class Plugins:
    manager: pluggy.PluginManager
    regularizers: Registry[type[Regularizer]]
    tasks: Registry[type[Task]]
    observers: Registry[type[Observer]]
    penalties_checked: bool = False

    def check_penalties(self) -> None:
        """Run every regularizer's penalty once on example activations (it must give a scalar tensor):
        the one load check that needs torch, so commands that only read results skip it (nothing they do
        calls a penalty) and every command that trains runs it before any job starts."""
        if not self.penalties_checked:
            for entry in self.regularizers:
                check_penalty_runs(entry.cls, entry.origin)
            self.penalties_checked = True


def load_plugins(plugins_dir: str | os.PathLike | None = None, *, check_penalties: bool = True) -> Plugins:
    """Every plugin (built-in, installed, in `plugins_dir`), each checked as it loads; `check_penalties=False`
    leaves the penalties' trial run (torch) to `Plugins.check_penalties`, for commands that only read."""
    pm = pluggy.PluginManager("rnnreg")
    pm.add_hookspecs(hookspecs)
    origins: dict[int, str] = {}

    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        origins[id(module)] = "built-in"

    if not os.environ.get(AUTOLOAD_OFF_ENV):
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        for plugin, dist in pm.list_plugin_distinfo():
            origins[id(plugin)] = f"{dist.metadata['name']}=={dist.version}"

    folder = plugins_dir or os.environ.get(PLUGINS_DIR_ENV)
    if folder:
        for path in local_plugin_files(Path(folder)):
            module = import_file(path)
            pm.register(module, name=f"file:{path}")
            origins[id(module)] = str(path)

    pm.check_pending()
    regularizers: Registry[type[Regularizer]] = Registry("regularizer")
    tasks: Registry[type[Task]] = Registry("task")
    collect(pm.hook.register_regularizers, regularizers, origins)
    collect(pm.hook.register_tasks, tasks, origins)
    observers: Registry[type[Observer]] = Registry("observer")
    collect(pm.hook.register_observers, observers, origins)
    for entry in regularizers:
        check_regularizer_class(entry.cls, entry.origin)
    for task in tasks:
        check_task_class(task.cls, task.origin)
    for observer in observers:
        check_observer_class(observer.cls, observer.origin)
    plugins = Plugins(pm, regularizers, tasks, observers)
    if check_penalties:
        plugins.check_penalties()
    return plugins


def collect(hook, registry: Registry, origins: dict[int, str]) -> None:
    # Calling each implementation on its own lets the registry know which plugin registered what.
    # get_hookimpls() lists implementations in registration order, so built-ins claim their names first.
    for impl in hook.get_hookimpls():
        origin = origins.get(id(impl.plugin), impl.plugin_name)
        impl.function(register=partial(registry.add, origin=origin))


def local_plugin_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise RnnregError(f"plugins folder {str(folder)!r} does not exist or is not a folder")
    return sorted(p.resolve() for p in folder.glob("*.py") if not p.name.startswith("_"))


def import_file(path: Path):
    module_name = f"rnnreg_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RnnregError(f"plugin file {str(path)!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise RnnregError(f"plugin file {str(path)!r} failed to import: {type(exc).__name__}: {exc}") from exc
    return module
