"""`rnnreg tune`: the reference, the trials, the finalists' rechecks and the finals on fresh seeds, for every
regularizer alike; trials are ordinary jobs; a driver killed with SIGKILL at any point and rerun reaches the
same files and decisions; selection reads the validation metric only; search spaces, strengths and grids are
checked where they are declared."""

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


TOY = ["--trials", "4", "--finalists", "2", "--select-seeds", "1", "--searches", "2", "--final-seeds", "2"]


def tune(tmp_path: Path, results: Path, *extra: str, epochs: int = 1):
    out = CliRunner().invoke(cli, ["tune", "--suite", suite(tmp_path, epochs=epochs), *TOY, *extra,
                                   "--results-dir", str(results), "--format", "json"])
    assert out.exit_code == 0, out.output
    return out


def files_by_role(results: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted(results.rglob("*.json")):
        result = json.loads(path.read_text())
        found.setdefault(result["config"]["tuning"]["role"], []).append(result)
    return found


def test_the_protocol_reference_trials_rechecks_and_finals_on_seeds_no_selection_used(tmp_path):
    results = tmp_path / "r"
    out = tune(tmp_path, results)
    roles = files_by_role(results)
    # every study has its reference: the suite's row as written, on the trials' seed
    assert sorted(r["regularizer"]["label"] for r in roles["reference"]) == ["naive", "none", "variational"]
    assert {r["seed"] for r in roles["reference"] + roles["trial"]} == {0}
    # two searches of 4 draws for each regularizer that tunes something; none tunes nothing
    trials = {(r["regularizer"]["label"], r["config"]["tuning"]["sampler_seed"]) for r in roles["trial"]}
    assert trials == {("naive", 0), ("naive", 1), ("variational", 0), ("variational", 1)}
    assert len(roles["trial"]) == 16
    assert {r["seed"] for r in roles["recheck"]} == {1}
    assert {r["seed"] for r in roles["final"]} == {2, 3}  # no final seed is a selection seed
    rows = json.loads(out.stdout)
    assert {r["regularizer"].split(" (")[0] for r in rows} == {"none", "naive", "variational"}
    assert all(r["n"] == 2 and r["section"].startswith("tuned: 4 random trials + the default, best 2 rechecked on "
                                                        "1 more seed") for r in rows)
    for row in rows:
        selection = row["selection"]
        assert 0.0 <= selection["rank1"] <= 1.0 and selection["top3"] == 1.0  # three regularizers: all in the top 3
        for search in selection["searches"]:
            assert search["chosen"] == "reference" or search["chosen"].startswith("trial ")
            assert search["optimism"] is not None and search["outcome"] is not None
    assert sum(r["selection"]["rank1"] for r in {r["regularizer"].split(" (")[0]: r for r in rows}.values()) == \
        pytest.approx(1.0)
    # the same command again: nothing trained, nothing re-asked, the same board
    again = tune(tmp_path, results)
    assert json.loads(again.stdout) == rows and "epoch 1/1" not in again.stderr
    # the results folder alone rebuilds a lost study database: trial k asks for the same values
    (results / "studies.sqlite3").unlink()
    rebuilt = tune(tmp_path, results)
    assert "epoch 1/1" not in rebuilt.stderr and json.loads(rebuilt.stdout) == rows


def test_the_chosen_configuration_is_the_best_mean_over_the_selecting_seeds(tmp_path):
    from rnnreg.results import read_results
    from rnnreg.tuned import experiment_key, tuned_studies, valid_value

    results = tmp_path / "r"
    tune(tmp_path, results)
    for study in tuned_studies(read_results(results)[0]):
        assert study.finalist_count == 2 and study.select_seeds == 1
        for search in study.searches:
            pool = ([study.reference] if study.reference else []) + list(search.trials.values())
            ranked = sorted((valid_value(r), i) for i, r in enumerate(pool))
            finalists = [pool[i] for _, i in ranked[:2]]
            means = [(valid_value(r) + valid_value(study.by_key[experiment_key(r)][1])) / 2 for r in finalists]
            best = finalists[means.index(min(means))]
            assert search.chosen_key == experiment_key(best)
            assert {f["seed"] for f in study.finals[search.chosen_key]} == {2, 3}


@pytest.mark.slow
def test_a_driver_killed_with_sigkill_and_rerun_reaches_the_same_files_and_decisions(tmp_path):
    whole = tmp_path / "whole"
    rows = json.loads(tune(tmp_path, whole, epochs=3).stdout)
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "rnnreg", "tune", "--suite", suite(tmp_path, epochs=3), *TOY,
               "--results-dir", str(killed), "--jobs", "1"]
    for cut in (3, 20, 30):  # among the trials, among the rechecks, among the finals
        driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(killed.rglob("*.json"))) < cut and driver.poll() is None:
            time.sleep(0.02)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    out = CliRunner().invoke(cli, command[3:] + ["--format", "json"])
    assert out.exit_code == 0, out.output

    def files(folder):
        return {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k in ("config", "metrics")}
                for p in folder.rglob("*.json")}

    assert files(killed) == files(whole)  # the same jobs, the same numbers: none trained twice, none lost
    decided = ("regularizer", "n", "seeds", "metrics", "rank", "selection")  # not the timings
    assert [{k: r.get(k) for k in decided} for r in json.loads(out.stdout)] == \
        [{k: r.get(k) for k in decided} for r in rows]
    trials = studies(killed)
    assert {label: len(ts) for label, ts in trials.items()} == {"naive": 4, "variational": 4}
    assert all(t.state.name == "COMPLETE" for ts in trials.values() for t in ts)


def test_a_recheck_another_driver_still_trains_is_waited_for_not_read_as_failed(tmp_path):
    """Two drivers on one results folder split the rechecks by their locks; the one that finishes first must
    not choose while a recheck it did not train has no file yet (read as failed, it would change the winner)."""
    import socket

    whole = tmp_path / "whole"
    tune(tmp_path, whole)
    recheck = next(r for r in files_by_role(whole)["recheck"])
    shared = tmp_path / "shared"
    lock = shared / ".locks" / f"{recheck['config_hash']}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "label": "the other driver",
                                "started_at": "2026-01-01T00:00:00+00:00"}))
    out = tune(tmp_path, shared)
    assert "rechecks still run elsewhere: the choice waits for a rerun" in out.stderr
    assert len(files_by_role(shared).get("final", [])) < len(files_by_role(whole)["final"])  # that search waits
    lock.unlink()  # the other driver is done (here: never wrote it, so this driver trains it now)
    tune(tmp_path, shared)

    def files(folder):
        return {p.name: json.loads(p.read_text())["metrics"] for p in folder.rglob("*.json")}

    assert files(shared) == files(whole)


def test_a_refused_trial_is_trained_again_and_each_driver_counts_what_it_told(tmp_path):
    results = tmp_path / "r"
    first = tune(tmp_path, results)
    assert "16 trials told this run" in first.stderr
    [path] = [p for p in results.rglob("naive__seed0__*.json")
              if json.loads(p.read_text())["config"]["tuning"].get("trial") == 1
              and json.loads(p.read_text())["config"]["tuning"]["sampler_seed"] == 0]
    edited = json.loads(path.read_text())
    edited["config"]["train"]["lr"] = 0.5  # edited after it was written: its hash no longer matches, so refused
    path.write_text(json.dumps(edited))
    board = CliRunner().invoke(cli, ["leaderboard", str(results), "--format", "json"])
    trials = {r["regularizer"].split(" (")[0]: sum(s["trials"] for s in r["selection"]["searches"])
              for r in json.loads(board.stdout)}
    assert trials["naive"] == 7 and trials["variational"] == 8  # the board says what it could read
    markdown = CliRunner().invoke(cli, ["leaderboard", str(results), "--format", "markdown"]).stdout
    assert "fewer readable search trials than the budget for naive (7 of 8)" in markdown  # under the heading
    again = tune(tmp_path, results)
    assert "references and trials: 1 to run or read (1 to train)" in again.stderr
    assert "0 trials told this run" in again.stderr  # the study already held it: this driver told nothing
    assert json.loads(path.read_text())["config"]["train"]["lr"] != 0.5  # trained again, as `run` would


def test_the_test_split_never_chooses(tmp_path, monkeypatch):
    """Poison the test metric so that it prefers other candidates than validation does: every decision must
    follow the validation numbers."""
    import rnnreg.runner
    from rnnreg.results import read_results
    from rnnreg.tuned import tuned_studies

    real = rnnreg.runner.train_and_evaluate

    def poisoned(*args, **kwargs):
        outcome = real(*args, **kwargs)
        outcome["metrics"]["test_error"] = 1.0 - outcome["metrics"]["valid_error"]  # best valid = worst test
        return outcome

    monkeypatch.setattr(rnnreg.runner, "train_and_evaluate", poisoned)
    results = tmp_path / "r"
    tune(tmp_path, results)
    for study in tuned_studies(read_results(results)[0]):
        for search in study.searches:
            best_first = min(c.first for c in search.finalists)
            assert search.finalists[0].first == best_first  # finalists by validation, best first


def test_a_higher_is_better_metric_is_maximized(plugins, monkeypatch):
    """No built-in task has one: a made-up accuracy task, tuned, must be maximized and choose its highest."""
    from rnnreg import selection
    from rnnreg.metrics import HIGHER_IS_BETTER

    monkeypatch.setitem(HIGHER_IS_BETTER, "accuracy", True)
    candidates = [selection.Candidate("reference", 0.80, (0.78,)), selection.Candidate("trial 0", 0.90, (0.60,)),
                  selection.Candidate("trial 1", 0.85, (0.86,))]
    assert [c.key for c in selection.finalists(candidates, 2, True)] == ["trial 0", "trial 1"]
    assert selection.winner(selection.finalists(candidates, 3, True), True).key == "trial 1"
    assert selection.winner(selection.finalists(candidates, 3, False), False).key == "trial 0"

    class Accuracy:
        primary_metric = "accuracy"

    from rnnreg.tune import Tuner

    monkeypatch.setattr(plugins.tasks, "get", lambda name: type("Entry", (), {"cls": Accuracy}))
    assert Tuner.direction(type("T", (), {"plugins": plugins})(), "made-up") is True


def test_final_seeds_zero_is_refused_in_one_line(tmp_path):
    out = CliRunner().invoke(cli, ["tune", "--suite", suite(tmp_path), "--final-seeds", "0", "--results-dir",
                                   str(tmp_path / "r")])
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1
    assert "Invalid value for '--final-seeds'" in out.output and not (tmp_path / "r").exists()


def test_every_failed_candidate_keeps_a_failed_row(tmp_path, monkeypatch):
    import rnnreg.runner

    real = rnnreg.runner.train_and_evaluate

    def broken_naive(task, data, regularizer, *args, **kwargs):
        if regularizer.name == "naive":
            raise RuntimeError("naive cannot train today")
        return real(task, data, regularizer, *args, **kwargs)

    monkeypatch.setattr(rnnreg.runner, "train_and_evaluate", broken_naive)
    out = tune(tmp_path, tmp_path / "r")
    rows = {r["regularizer"].split(" (")[0]: r for r in json.loads(out.stdout)}
    assert rows["naive"]["status"] == "failed" and rows["naive"]["n"] == 0
    assert rows["naive"]["errors"] == ["9/9 candidates failed; the first: RuntimeError: naive cannot train today"]
    board = CliRunner().invoke(cli, ["leaderboard", str(tmp_path / "r")])
    assert "naive" in board.stdout and "failed" in board.stdout


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


def test_a_strength_scales_exactly_the_probabilities_of_every_part(tmp_path, plugins):
    """AWD-LSTM's composition at strength 0.5: every part's probability halved, the entry's own ones too,
    AR/TAR's weights as they were; the trial records the factor, the result the probabilities."""
    from rnnreg.runner import Runner
    from rnnreg.suite import load_suite
    from rnnreg.tune import Tuner

    path = tmp_path / "strength.yaml"
    path.write_text("tasks: {synthetic-lm: {}}\ntune: {strength: [0.25, 0.5, 1.0]}\nregularizers:\n"
                    "  - {spec: weight-drop+variational+embedding+ar-tar, label: awd, params: {p_input: 0.3}}\n")
    tuner = Tuner(Runner(plugins, tmp_path / "r"), load_suite(str(path), plugins), plugins, sampler="grid")
    assert tuner.trials == 3
    [study] = tuner.studies()
    assert list(study.space) == ["strength"]
    job = tuner.trial_job(study, 1, {"strength": 0.5})
    params = tuner.runner.config_of(job)["regularizer"]["params"]
    assert params["weight-drop"] == {"p": 0.25} and params["embedding"] == {"p": 0.15}
    assert params["variational"]["p_input"] == 0.15 and params["variational"]["p_recurrent"] == 0.15
    assert params["ar-tar"] == {"alpha": 2.0, "beta": 1.0}
    assert job.study["params"] == {"strength": 0.5}


@pytest.mark.parametrize(("tune_text", "message"), [
    ("tune: {strength: [0.0, 1.0]}", "strength must lie in (0, 2], got [0, 1]"),
    ("tune: {strength: [0.5, 2.5]}", "strength must lie in (0, 2], got [0.5, 2.5]"),
    ("tune: {strength: [0.5, 1.0, 1.5]}", "takes 'naive''s p_input 0.5 to 0.75"),
])
def test_a_bad_strength_is_one_line_before_any_trial(tmp_path, tune_text, message):
    out = CliRunner().invoke(cli, ["tune", "--suite", suite(tmp_path, extra=tune_text), "--sampler", "grid",
                                   "--results-dir", str(tmp_path / "r")])
    assert out.exit_code == 1 and len(out.output.strip().splitlines()) == 1, out.output
    assert not (tmp_path / "r").exists()


def test_a_strength_on_a_regularizer_without_probabilities_is_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("tasks: {synthetic-lm: {}}\ntune: {strength: [0.5, 1.0]}\nregularizers: [zaremba, ar-tar]\n")
    out = CliRunner().invoke(cli, ["tune", "--suite", str(path), "--results-dir", str(tmp_path / "r")])
    assert out.exit_code == 1 and "'ar-tar' has none" in out.output and "Traceback" not in out.output


def test_a_tuning_job_whose_experiment_already_ran_is_read_not_trained(tmp_path):
    """A strength grid's point 0.5 is the row a suite ran at dropout_scale 0.5, and the reference (strength
    1) is also the grid's point 1: each trains once."""
    results = tmp_path / "r"
    scaled = tmp_path / "scaled.yaml"
    scaled.write_text(SUITE.replace("EPOCHS", "1").replace("regularizers: [none, naive, variational]",
                                                           "regularizers: [variational]\ndropout_scale: 0.5"))
    ran = CliRunner().invoke(cli, ["run", "--suite", str(scaled), "--results-dir", str(results)])
    assert ran.exit_code == 0, ran.output

    path = tmp_path / "grid.yaml"
    path.write_text(SUITE.replace("EPOCHS", "1").replace("regularizers: [none, naive, variational]",
                                                         "regularizers: [variational]") +
                    "tune: {strength: [0.25, 0.5, 1.0]}\n")
    out = CliRunner().invoke(cli, ["tune", "--suite", str(path), "--sampler", "grid", "--finalists", "1",
                                   "--select-seeds", "0", "--final-seeds", "1", "--results-dir", str(results)])
    assert out.exit_code == 0, out.output
    assert "references and trials: 3 to run or read (1 to train)" in out.stderr  # 0.25 only
    files = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    reused = [r for r in files if r.get("reused")]
    assert {r["config"]["tuning"]["role"] for r in reused} >= {"trial"}
    untuned = next(r for r in files if "tuning" not in r["config"])
    at_half = next(r for r in files if (r.get("study") or {}).get("params") == {"strength": 0.5})
    assert at_half["metrics"] == untuned["metrics"] and at_half["reused"]["config_hash"] == untuned["config_hash"]


def test_a_strength_search_is_shown_as_a_curve_per_method_with_the_chosen_point(tmp_path):
    """The board's table and the report's figure of a strength grid: each point's seed-0 validation number,
    the reference at strength 1, and the point chosen on validation marked."""
    from rnnreg.figures import section_figures
    from rnnreg.leaderboard import build_rows
    from rnnreg.rendering import render_markdown
    from rnnreg.results import read_results

    results = tmp_path / "r"
    path = tmp_path / "grid.yaml"
    path.write_text(SUITE.replace("EPOCHS", "1").replace("[none, naive, variational]", "[naive, variational]")
                    + "tune: {strength: [0.5, 0.75, 1.0]}\n")
    out = CliRunner().invoke(cli, ["tune", "--suite", str(path), "--sampler", "grid", "--finalists", "1",
                                   "--select-seeds", "0", "--final-seeds", "1", "--results-dir", str(results)])
    assert out.exit_code == 0, out.output
    assert "a strength multiplies naive: p_input" in out.stderr and "; variational: p_input 0.5" in out.stderr
    found = read_results(results)[0]
    rows = [r for r in build_rows(found) if r.get("selection")]
    assert {r["regularizer"].split(" (")[0] for r in rows} == {"naive", "variational"}
    chosen_points = {}
    for row in rows:
        label = row["regularizer"].split(" (")[0]
        seed0 = {(r.get("study") or {}).get("params", {}).get("strength", 1.0): r["metrics"]["valid_error"]["value"]
                 for r in found if r["regularizer"]["label"] == label and r["config"]["tuning"]["role"] == "trial"}
        curve = row["selection"]["curve"]
        assert curve["dimension"] == "strength" and dict(map(tuple, curve["points"])) == seed0
        [chosen] = curve["chosen"]
        assert seed0[chosen] == min(seed0.values())  # chosen on validation
        chosen_points[label] = chosen
    board = render_markdown(build_rows(found))
    for label, chosen in chosen_points.items():  # the selection table names the point, not only "trial k"
        assert f"| {label} |" in board and (f"(strength {chosen:g}) |" in board or chosen == 1.0)
    assert "The strength search on synthetic-sentiment" in board and "| strength 0.5 | strength 0.75 | strength 1 |" in board
    assert "Budget curves" not in board  # a grid is no random sample: its curve is the search's own
    runs_of = {r["regularizer"]: [] for r in rows}
    stems = [f.stem for f in section_figures(rows, runs_of, "tuned")]
    assert "searchcurve" in stems and "budget" not in stems
