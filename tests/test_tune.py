"""`rnnreg tune`: the same budget, sampler and seed for every regularizer; trials are ordinary jobs;
a driver killed with SIGKILL and rerun ends with exactly N trials per regularizer; selection reads the
validation metric only; search spaces are checked where they are declared."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnreg.cli import cli
from rnnreg.errors import RnnregError
from rnnreg.plugins import load_plugins
from rnnreg.searchspace import space_of

optuna = pytest.importorskip("optuna", reason="rnnreg tune needs Optuna: pip install -e '.[tune]'")

SUITE = """
name: tiny-tune
evaluation: {mc_samples: 0}
tasks:
  synthetic-sentiment: {train: {epochs: EPOCHS}, model: {hidden_size: 8, embed_size: 8}}
regularizers: [none, naive, variational]
"""


def suite(tmp_path: Path, epochs: int = 1, extra: str = "") -> str:
    path = tmp_path / "tiny-tune.yaml"
    path.write_text(SUITE.replace("EPOCHS", str(epochs)) + extra)
    return str(path)


def studies(results: Path) -> dict[str, list]:
    storage = f"sqlite:///{results / 'studies.sqlite3'}"
    return {s.study_name.split("/")[-2]: optuna.load_study(study_name=s.study_name, storage=storage).trials
            for s in optuna.get_all_study_summaries(storage)}


def trial_files(results: Path) -> list[dict]:
    found = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    return [r for r in found if r["config"].get("tuning", {}).get("role") == "trial"]


def test_every_regularizer_gets_the_same_budget_and_the_same_points(tmp_path):
    results = tmp_path / "r"
    out = CliRunner().invoke(cli, ["tune", "--suite", suite(tmp_path), "--trials", "3", "--final-seeds", "2",
                                   "--results-dir", str(results), "--format", "json"])
    assert out.exit_code == 0, out.output
    trials = studies(results)
    # none has nothing to tune: one trial, said on the board; the others N each, all complete
    assert {label: len(t) for label, t in trials.items()} == {"none": 1, "naive": 3, "variational": 3}
    assert all(t.state.name == "COMPLETE" for ts in trials.values() for t in ts)
    # the same sampler seed per trial number: naive and variational searched the same dropout rates
    assert [t.params for t in trials["naive"]] == [t.params for t in trials["variational"]]
    files = trial_files(results)
    assert len(files) == 7 and all(r["study"]["trial"] == r["config"]["tuning"]["trial"] for r in files)
    rows = json.loads(out.stdout)
    assert {r["regularizer"]: r["n"] for r in rows} == {"none": 2, "naive": 2, "variational": 2}
    assert {r["regularizer"]: r["budget"]["trials"] for r in rows} == {"none": 1, "naive": 3, "variational": 3}
    assert all(r["section"].startswith("tuned: 3 random-search trials each") for r in rows)
    again = CliRunner().invoke(cli, ["tune", "--suite", suite(tmp_path), "--trials", "3", "--final-seeds", "2",
                                     "--results-dir", str(results), "--format", "json"])
    assert again.exit_code == 0 and json.loads(again.stdout) == rows  # nothing retrained, nothing re-asked
    assert {label: len(t) for label, t in studies(results).items()} == {"none": 1, "naive": 3, "variational": 3}
    # The results folder alone rebuilds a lost study: trial k asks for the same values, finds its result.
    told = {label: [(t.number, t.params, t.value) for t in ts] for label, ts in studies(results).items()}
    (results / "studies.sqlite3").unlink()
    rebuilt = CliRunner().invoke(cli, ["tune", "--suite", suite(tmp_path), "--trials", "3", "--final-seeds", "2",
                                       "--results-dir", str(results), "--format", "json"])
    assert rebuilt.exit_code == 0 and "epoch 1/1" not in rebuilt.stderr  # nothing trained
    assert {label: [(t.number, t.params, t.value) for t in ts] for label, ts in studies(results).items()} == told
    assert json.loads(rebuilt.stdout) == rows


def test_a_driver_killed_with_sigkill_and_rerun_ends_with_exactly_n_trials(tmp_path):
    results = tmp_path / "r"
    command = [sys.executable, "-m", "rnnreg", "tune", "--suite", suite(tmp_path, epochs=6), "--trials", "4",
               "--final-seeds", "0", "--results-dir", str(results)]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(results.rglob("*.json"))) < 3:
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)  # between an ask and its tell, mid-trial
    driver.wait()
    killed_at = len(list(results.rglob("*.json")))
    assert 3 <= killed_at < 9, "the kill came too late to test anything"
    out = CliRunner().invoke(cli, command[3:])
    assert out.exit_code == 0, out.output
    trials = studies(results)
    assert {label: len(t) for label, t in trials.items()} == {"none": 1, "naive": 4, "variational": 4}
    assert all(t.state.name == "COMPLETE" for ts in trials.values() for t in ts)
    files = trial_files(results)
    assert len(files) == 9  # one result per trial: none trained twice, none lost
    assert len({(r["regularizer"]["label"], r["study"]["trial"]) for r in files}) == 9
    for label, ts in trials.items():  # what the study was told is what the result file says
        told = {t.number: t.value for t in ts}
        assert told == {r["study"]["trial"]: r["metrics"]["valid_error"]["value"] for r in files
                        if r["regularizer"]["label"] == label}


def test_the_test_split_never_chooses(tmp_path, monkeypatch):
    """Poison the test metric so that it prefers another trial than validation does: the tuned row must
    still be the trial with the best validation number."""
    import rnnreg.runner

    real = rnnreg.runner.train_and_evaluate

    def poisoned(*args, **kwargs):
        outcome = real(*args, **kwargs)
        outcome["metrics"]["test_error"] = 1.0 - outcome["metrics"]["valid_error"]  # best valid = worst test
        return outcome

    monkeypatch.setattr(rnnreg.runner, "train_and_evaluate", poisoned)
    results = tmp_path / "r"
    out = CliRunner().invoke(cli, ["tune", "--suite", suite(tmp_path), "--trials", "4", "--final-seeds", "1",
                                   "--results-dir", str(results), "--format", "json"])
    assert out.exit_code == 0, out.output
    files = [r for r in trial_files(results) if r["regularizer"]["label"] == "variational"]
    best = min(files, key=lambda r: (r["metrics"]["valid_error"]["value"], r["study"]["trial"]))
    [final] = [json.loads(p.read_text()) for p in results.rglob("variational__*.json")
               if json.loads(p.read_text())["config"]["tuning"]["role"] == "final"]
    assert final["study"]["trial"] == best["study"]["trial"]
    assert final["regularizer"]["params"] == best["regularizer"]["params"]


@pytest.mark.parametrize(("tune", "message"), [
    ("tune: {space: {variational: {p_recurrent: [0.5, 0.1]}}}", "search range of 'p_recurrent' has low 0.5 > high 0.1"),
    ("tune: {space: {variational: {p_recurrent: [0.0, 1.2]}}}", "probability 'p_recurrent' must lie in [0, 1)"),
    ("tune: {space: {variational: {p_bogus: [0.0, 0.5]}}}", "tune.space names 'p_bogus', which 'variational' does not tune"),
    ("tune: {space: {moon: {p_cell: [0.0, 0.5]}}}", "unknown key tune.space.'moon'"),
    ("tune: {shared: {model.hidden_size: [8, 16]}}", "tune.shared key 'model.hidden_size' must name a training setting"),
    ("tune: {shared: {train.weight_decay: [0.0, 0.1, log]}}", "log search range of 'train.weight_decay' must be positive"),
])
def test_a_bad_search_space_is_one_line_before_any_trial(tmp_path, tune, message):
    out = CliRunner().invoke(cli, ["tune", "--suite", suite(tmp_path, extra=tune), "--results-dir", str(tmp_path / "r")])
    assert out.exit_code == 1 and message in out.output and "Traceback" not in out.output, out.output
    assert not (tmp_path / "r").exists()


def test_a_plugins_declared_space_is_checked_at_load_and_shown(tmp_path, plugins):
    (tmp_path / "spaced.py").write_text('''
import rnnreg
from rnnreg import Regularizer, SiteRule


class Spaced(Regularizer):
    name = "spaced"
    params = {"p_recurrent": 0.25, "alpha": 2.0}
    search_space = {"p_recurrent": (0.0, 0.5), "alpha": None}

    def plan(self):
        return {"recurrent": SiteRule(self.p_recurrent, per="sequence")}


@rnnreg.hookimpl
def register_regularizers(register):
    register(Spaced)
''')
    loaded = load_plugins(tmp_path)
    assert {k: (d.low, d.high) for k, d in space_of("spaced", loaded.regularizers).items()} == {"p_recurrent": (0.0, 0.5)}
    listed = CliRunner().invoke(cli, ["--plugins-dir", str(tmp_path), "plugins", "list", "--format", "json"])
    [row] = [r for r in json.loads(listed.stdout) if r["name"] == "spaced"]
    assert row["search_space"] == {"p_recurrent": "0..0.5"}
    (tmp_path / "spaced.py").write_text((tmp_path / "spaced.py").read_text().replace("(0.0, 0.5)", "(0.6, 0.5)"))
    with pytest.raises(RnnregError, match="search range of 'p_recurrent' has low 0.6 > high 0.5"):
        load_plugins(tmp_path)


def test_default_spaces_follow_the_parameters(plugins):
    awd = space_of("weight-drop+variational+embedding+ar-tar", plugins.regularizers, {"p_recurrent": 0.0})
    assert "variational.p_recurrent" not in awd  # the suite entry fixes it: AWD has no dropout on h
    assert (awd["variational.p_input"].low, awd["variational.p_input"].high, awd["variational.p_input"].log) == (0.0, 0.8, False)
    alpha = awd["ar-tar.alpha"]
    assert (alpha.low, alpha.high, alpha.log) == (pytest.approx(0.2), pytest.approx(200.0), True)  # widened: 42
    assert space_of("none", plugins.regularizers) == {}
