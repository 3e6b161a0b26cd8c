"""What a user installs: the wheel's package list holds every package of the source tree, with the data
files rnnreg reads at run time (.ci/run also builds the wheel and runs it from outside the checkout)."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; CI runs 3.11

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def source_packages() -> set[str]:
    """Every package the source tree holds, under the name it installs as."""
    names = set()
    for installed, folder in SETUPTOOLS["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            if "build" in init.relative_to(ROOT).parts:
                continue
            names.add(".".join([installed, *init.parent.relative_to(base).parts]))
    return names


def test_every_package_of_the_source_tree_is_in_the_wheel():
    missing = source_packages() - set(SETUPTOOLS["packages"])
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert "rnnreg.cli" in SETUPTOOLS["packages"]  # the entry point's package: without it `rnnreg` cannot start


def test_the_files_read_at_run_time_ship_as_package_data():
    data = SETUPTOOLS["package-data"]
    assert "result.schema.json" in data["rnnreg"] and (ROOT / "rnnreg" / "result.schema.json").exists()
    assert data["rnnreg_suites"] == ["*.yaml"] and list((ROOT / "benchmarks" / "suites").glob("*.yaml"))
    assert PYPROJECT["project"]["scripts"]["rnnreg"] == "rnnreg.cli:main"
