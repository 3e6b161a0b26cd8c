"""Discovery: built-ins, a plugins folder, an installed package's entry point; the registry's errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnreg.errors import RnnregError
from rnnreg.plugins import load_plugins
from rnnreg.registry import Registry

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
EXAMPLE = EXAMPLES / "rnnreg-recurrent-only"
BUILTINS = {"none", "naive", "zaremba", "moon", "variational", "embedding", "semeniuta", "zoneout", "weight-drop", "ar-tar",
            "gaussian", "concrete"}
QUICK_LM = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "quick" / "synthetic-lm"


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
    return pip_install(EXAMPLE, tmp_path_factory.mktemp("site"))


def pip_install(package: Path, target: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(package)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target


def test_a_penalty_plugin_installed_by_pip_runs(tmp_path):
    """The second example uses the loss-term hook through the public API alone, and trains."""
    env = {"PYTHONPATH": str(pip_install(EXAMPLES / "rnnreg-norm-stabilizer", tmp_path / "site"))}
    rows = {row["name"]: row for row in json.loads(rnnreg_cli("plugins", "list", "--format", "json", env=env).stdout)}
    assert rows["norm-stabilizer"]["origin"] == "rnnreg-norm-stabilizer==0.1.0"
    assert rows["norm-stabilizer"]["sites"] == ["loss"]
    explained = json.loads(rnnreg_cli("explain", "variational+norm-stabilizer", "--format", "json", env=env).stdout)
    assert explained["penalties"][0]["activations"] == ["layer_outputs"]
    out = rnnreg_cli("run", "-r", "variational+norm-stabilizer", "-t", "synthetic-lm", "--set", "train.epochs=1",
                     "--results-dir", str(tmp_path / "results"), "--format", "json", env=env)
    assert out.returncode == 0, out.stderr
    [result] = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]
    assert result["status"] == "ok" and result["curves"][0]["train_penalty"] > 0
    assert result["regularizer"]["versions"] == {"variational": "1", "norm-stabilizer": "1"}


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


# --- a plugin that asks for something rnnreg does not do is an error when it is loaded ----------------

BAD_PLUGINS = {
    "unknown site": ('{"gates": SiteRule(0.5)}', "plan() names site 'gates', which the model does not have"),
    "zoneout on a unit site": ('{"input": SiteRule(0.5, kind="zoneout")}', "the input site takes dropout rules, not 'zoneout'"),
    "dropout on the hidden state": ('{"hidden": SiteRule(0.5)}', "the hidden site takes zoneout rules, not 'dropout'"),
    "per-sample weight mask": ('{"weight_recurrent": SiteRule(0.5)}', "its rule must be SiteRule(p, per='sequence', scope='batch')"),
    "zoneout per gate": ('{"cell": SiteRule(0.5, kind="zoneout", per_gate=True)}', "a zoneout SiteRule keeps whole units"),
    "typo in per": ('{"recurrent": SiteRule(0.5, per="steps")}', "SiteRule per='steps' is not one of step, sequence"),
    "p above 1": ('{"recurrent": SiteRule(1.5)}', "SiteRule p must be a number in [0, 1), got 1.5"),
    "not a rule": ('{"recurrent": 0.5}', "gives the recurrent site a float, not a SiteRule"),
    "output scale off the cell": ('{"input": SiteRule(0.5, scale="output")}', "scale='output' exists only on the cell site"),
}


def plugin_source(plan: str, extra: str = "") -> str:
    return f'''
import rnnreg
from rnnreg import Regularizer, SiteRule


class Broken(Regularizer):
    name = "broken"
    params = {{"p": 0.25}}
{extra}
    def plan(self):
        return {plan}


@rnnreg.hookimpl
def register_regularizers(register):
    register(Broken)
'''


def load_error(tmp_path, source: str) -> str:
    (tmp_path / "broken.py").write_text(source)
    with pytest.raises(RnnregError) as err:
        load_plugins(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"regularizer 'broken' from {(tmp_path / 'broken.py').resolve()}: ")
    return message


@pytest.mark.parametrize("case", sorted(BAD_PLUGINS))
def test_bad_plans_are_one_line_errors_naming_plugin_and_origin(tmp_path, case):
    plan, expected = BAD_PLUGINS[case]
    assert expected in load_error(tmp_path, plugin_source(plan))


def test_a_penalty_asking_for_what_rnnreg_cannot_give_is_an_error(tmp_path):
    extra = "    def penalty(self, activations):\n        return activations.pow(2).mean()\n"
    message = load_error(tmp_path, plugin_source('{"recurrent": SiteRule(0.5)}', extra))
    assert "penalty() argument 'activations' is not one rnnreg can give" in message


def test_a_penalty_that_returns_no_scalar_is_an_error(tmp_path):
    extra = "    def penalty(self, *, output):\n        return output.pow(2)\n"
    message = load_error(tmp_path, plugin_source('{}', extra))
    assert "penalty() must return a scalar tensor" in message


def test_a_penalty_is_tried_before_training_but_not_for_reading(tmp_path):
    """The penalty's trial run needs torch, so commands that only read skip it; `run` fails in one line
    before its first job."""
    from click.testing import CliRunner

    from rnnreg.cli import cli

    extra = "    def penalty(self, *, output):\n        return output.pow(2)\n"
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text(plugin_source('{}', extra))
    load_plugins(tmp_path / "plugins", check_penalties=False)  # loads: nothing is trained
    results = tmp_path / "results"
    (results / "synthetic-lm").mkdir(parents=True)
    shutil.copy(next(QUICK_LM.glob("none__seed0__*.json")), results / "synthetic-lm")
    board = CliRunner().invoke(cli, ["--plugins-dir", str(tmp_path / "plugins"), "leaderboard", str(results)])
    assert board.exit_code == 0, board.output
    run = CliRunner().invoke(cli, ["--plugins-dir", str(tmp_path / "plugins"), "run", "-r", "none",
                                   "-t", "synthetic-sentiment", "--results-dir", str(results)])
    assert run.exit_code == 1 and "penalty() must return a scalar tensor" in run.output
    assert not list((results / "synthetic-sentiment").glob("*.json"))


def test_reading_commands_import_no_torch_and_hash_configs_as_training_does(tmp_path):
    """`leaderboard` and `claims` load the plugins (published references, the claims' scope) without
    torch; the torch version a config records is the same read from metadata as from torch itself."""
    results = tmp_path / "results"
    shutil.copytree(QUICK_LM.parent, results)
    script = ("import sys\nfrom click.testing import CliRunner\nfrom rnnreg.cli import cli\n"
              f"for args in (['leaderboard', {str(results)!r}], ['claims', {str(results)!r}]):\n"
              "    out = CliRunner().invoke(cli, args)\n    assert out.exit_code == 0, out.output\n"
              "from rnnreg.jobs import torch_version\nprint('torch' in sys.modules, torch_version())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    imported, version = done.stdout.split()
    import torch

    assert imported == "False" and version == torch.__version__


def test_an_unused_method_is_an_error(tmp_path):
    extra = "    def loss(self, output):\n        return output.pow(2).mean()\n"
    message = load_error(tmp_path, plugin_source('{"recurrent": SiteRule(0.5)}', extra))
    assert "defines 'loss', which rnnreg does not use" in message


def test_a_site_rule_subclass_is_an_error(tmp_path):
    extra = ("    class _Gaussian(SiteRule):\n        def sample(self):\n            return None\n")
    message = load_error(tmp_path, plugin_source('{"recurrent": self._Gaussian(0.5)}', extra))
    assert "_Gaussian subclasses SiteRule" in message


def test_the_cli_reports_a_bad_plugin_in_one_line_before_anything_runs(tmp_path):
    (tmp_path / "broken.py").write_text(plugin_source('{"gates": SiteRule(0.5)}'))
    from click.testing import CliRunner

    from rnnreg.cli import cli

    for args in (["plugins", "list"], ["explain", "broken"], ["run", "-r", "broken", "--results-dir", str(tmp_path / "r")]):
        result = CliRunner().invoke(cli, ["--plugins-dir", str(tmp_path), *args])
        assert result.exit_code == 1
        assert "gates" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_parameters_that_break_a_plan_are_caught_when_built(plugins):
    from rnnreg.regularizer import build_regularizer

    with pytest.raises(RnnregError, match="'cell_scale' must be one of output, mask"):
        build_regularizer("moon", {"cell_scale": "inside"}, plugins.regularizers)


def test_a_trainable_parameter_kept_by_a_plugin_is_refused_at_load(tmp_path):
    """rnnreg optimizes the model's parameters only: a rate kept as an nn.Parameter would silently never
    train while its gradient accumulated."""
    extra = ("    def __init__(self, **overrides):\n        super().__init__(**overrides)\n"
             "        import torch\n        self._rate = torch.nn.Parameter(torch.tensor(0.1))\n"
             "    def penalty(self, *, output):\n        return self._rate * output.pow(2).mean()\n")
    message = load_error(tmp_path, plugin_source('{"recurrent": SiteRule(0.25)}', extra))
    assert "keeps trainable tensors ('_rate') that rnnreg would never optimize" in message
    from click.testing import CliRunner

    from rnnreg.cli import cli

    result = CliRunner().invoke(cli, ["--plugins-dir", str(tmp_path), "run", "-r", "broken", "--results-dir",
                                      str(tmp_path / "r")])
    assert result.exit_code == 1 and "keeps trainable tensors" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("body", "message"), [
    ('    kind = "translation"\n    def load(self, data_dir):\n        return None\n', "kind 'translation' is not one of"),
    ('    kind = "classification"\n', "defines no load(data_dir)"),
    ('    published = {"Someone 2020": {"valid_error": "low"}}\n    def load(self, data_dir):\n        return None\n',
     "'published' must map a source to {metric name: number}"),
])
def test_a_task_plugin_is_checked_when_it_loads(tmp_path, body, message):
    (tmp_path / "mytask.py").write_text(
        "import rnnreg\nfrom rnnreg import Task\n\n\nclass Mine(Task):\n    name = 'mine'\n" + body
        + "\n\n@rnnreg.hookimpl\ndef register_tasks(register):\n    register(Mine)\n")
    with pytest.raises(RnnregError) as err:
        load_plugins(tmp_path)
    assert str(err.value).startswith(f"task 'mine' from {(tmp_path / 'mytask.py').resolve()}: ")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_editing_a_plugins_code_reruns_its_jobs_instead_of_reading_the_old_result(tmp_path):
    """A newcomer changed a plugin from one mask per sequence to one per step, same name, version and
    parameters: its old result must not answer for the new code."""
    import json

    from click.testing import CliRunner

    from rnnreg.cli import cli

    plugin = tmp_path / "plugins" / "mine.py"
    plugin.parent.mkdir()
    results = tmp_path / "r"
    args = ["--plugins-dir", str(plugin.parent), "run", "-r", "broken", "-r", "none", "-t", "synthetic-sentiment",
            "--set", "train.epochs=1", "--set", "model.hidden_size=8", "--set", "model.embed_size=8",
            "--results-dir", str(results), "--jobs", "1"]

    def files():
        return sorted(json.loads(p.read_text())["config"]["regularizer"].get("code", {}).get("broken", "built-in")
                      for p in results.rglob("*.json"))

    plugin.write_text(plugin_source('{"recurrent": SiteRule(0.25, per="sequence")}'))
    assert CliRunner().invoke(cli, args).exit_code == 0
    [before, builtin] = files()
    assert builtin == "built-in" and len(before) == 16  # a built-in's record (and cache key) is unchanged
    rerun = CliRunner().invoke(cli, args)
    assert rerun.exit_code == 0 and rerun.stderr.count("result exists, skipped") == 2  # unchanged code: cached

    plugin.write_text(plugin_source('{"recurrent": SiteRule(0.25, per="step")}'))
    edited = CliRunner().invoke(cli, args)
    assert edited.exit_code == 0 and edited.stderr.count("result exists, skipped") == 1  # only none's
    assert len(files()) == 3 and before in files()  # the edited plugin trained again, under a new key
