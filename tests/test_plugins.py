"""Discovery: built-ins, a plugins folder, an installed package's entry point; the registry's errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnreg.errors import RnnregError
from rnnreg.plugins import load_plugins
from rnnreg.registry import Registry

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "rnnreg-recurrent-only"
BUILTINS = {"none", "naive", "zaremba", "moon", "variational", "embedding"}


def test_builtins_are_registered_as_builtin(plugins):
    assert {e.name for e in plugins.regularizers} == BUILTINS
    assert {e.origin for e in plugins.regularizers} == {"built-in"}
    assert {"synthetic-lm", "synthetic-sentiment"} <= set(plugins.tasks.names())


def test_duplicate_name_names_both_origins():
    class A:
        name = "twin"

    registry = Registry("regularizer")
    registry.add(A, "built-in")
    with pytest.raises(RnnregError, match="duplicate regularizer name 'twin': registered by built-in and by /x/y.py"):
        registry.add(A, "/x/y.py")


def test_plugins_folder_is_loaded_with_file_origin(tmp_path):
    (tmp_path / "mine.py").write_text((EXAMPLE / "rnnreg_recurrent_only.py").read_text())
    loaded = load_plugins(tmp_path)
    entry = loaded.regularizers.get("recurrent-only")
    assert entry.origin == str((tmp_path / "mine.py").resolve())


def test_a_plugin_file_clashing_with_a_builtin_is_an_error(tmp_path):
    (tmp_path / "clash.py").write_text(
        "import rnnreg\nclass N(rnnreg.Regularizer):\n    name = 'none'\n    def plan(self): return {}\n"
        "@rnnreg.hookimpl\ndef register_regularizers(register):\n    register(N)\n")
    with pytest.raises(RnnregError, match="duplicate regularizer name 'none': registered by built-in and by .*clash.py"):
        load_plugins(tmp_path)


def test_a_broken_plugin_file_is_a_one_line_error(tmp_path):
    (tmp_path / "broken.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(RnnregError, match="broken.py' failed to import: ModuleNotFoundError"):
        load_plugins(tmp_path)


def rnnreg_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rnnreg", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """The guide's package, installed with pip (into a folder, so the test environment stays clean)."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target


def test_installed_package_is_found_through_its_entry_point(installed_example):
    env = {"PYTHONPATH": str(installed_example)}
    out = rnnreg_cli("plugins", "list", "--format", "json", env=env)
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["recurrent-only"]["origin"] == "rnnreg-recurrent-only==0.1.0"
    assert rows["recurrent-only"]["params"] == {"p": 0.25}
    assert set(rows) == BUILTINS | {"recurrent-only"}
    assert all(set(row) >= {"name", "origin", "description", "params"} for row in rows.values())

    explained = rnnreg_cli("explain", "recurrent-only", "--format", "json", env=env)
    sites = json.loads(explained.stdout)["sites"]
    assert sites["recurrent"] is not None and sites["input"] is None

    off = rnnreg_cli("plugins", "list", "--format", "json", env={**env, "RNNREG_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert {row["name"] for row in json.loads(off.stdout)} == BUILTINS
