"""Runs are reproducible, resumable, atomic and fail-isolated."""

import json
from pathlib import Path

import pytest

from rnnreg.jobs import expand
from rnnreg.plugins import load_plugins
from rnnreg.runner import Runner
from rnnreg.suite import parse_suite

FAST = {"model": {"hidden_size": 8, "embed_size": 8}, "train": {"epochs": 1}}

FAILING_PLUGIN = '''
import rnnreg

class Broken(rnnreg.Regularizer):
    name = "broken"
    description = "Raises while training (when asked to), to prove one plugin cannot stop a run."
    params = {"fail": False}  # at its defaults it loads; with fail=true its plan raises
    def plan(self):
        if self.fail:
            raise RuntimeError("this plugin is broken on purpose")
        return {}

@rnnreg.hookimpl
def register_regularizers(register):
    register(Broken)
'''


def suite(plugins, regularizers, tasks=("synthetic-sentiment",), seeds=(0,)):
    raw = {"seeds": list(seeds), "tasks": {t: FAST for t in tasks}, "regularizers": list(regularizers),
           "evaluation": {"mc_samples": 2}}
    return parse_suite(raw, "test-suite", plugins)


def run(plugins, results_dir, regularizers, **kwargs):
    runner = Runner(plugins, results_dir, **kwargs)
    return runner, runner.run(expand(suite(plugins, regularizers), plugins))


def files(folder: Path):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_result_file_has_everything(plugins, tmp_path):
    _, [result] = run(plugins, tmp_path, ["variational"])
    [path] = files(tmp_path)
    on_disk = json.loads(path.read_text())
    assert on_disk["status"] == "ok" and on_disk["error"] is None
    for key in ("schema_version", "rnnreg_version", "torch_version", "git_commit", "git_dirty", "machine", "config",
                "config_hash", "task", "regularizer", "seed", "status", "metrics", "curves", "speed",
                "wall_seconds", "parameters", "peak_memory_bytes", "oracle"):
        assert key in on_disk, key
    assert on_disk["config_hash"][:12] in path.name
    assert on_disk["git_dirty"] in (True, False, None)  # None outside a git checkout
    assert on_disk["metrics"]["test_error"]["higher_is_better"] is False
    assert on_disk["regularizer"]["params"] == {"variational": {"p_input": 0.5, "p_recurrent": 0.3, "p_output": 0.5,
                                                                "untied": False, "mask_scope": "sample"}}
    assert set(on_disk["speed"]["train_tokens_per_s"]) == {"median", "min", "max", "n"}


def test_same_config_same_numbers(plugins, tmp_path):
    _, [a] = run(plugins, tmp_path / "a", ["variational+embedding"])
    _, [b] = run(plugins, tmp_path / "b", ["variational+embedding"])
    assert a["metrics"] == b["metrics"] and a["config_hash"] == b["config_hash"]


def test_rerun_skips_finished_jobs_and_force_reruns(plugins, tmp_path):
    run(plugins, tmp_path, ["none", "zaremba"])
    before = {p: p.stat().st_mtime_ns for p in files(tmp_path)}
    events = []
    _, results = run(plugins, tmp_path, ["none", "zaremba"], report=lambda e, i: events.append(e))
    assert results == [] and events == ["skip", "skip"]
    assert {p: p.stat().st_mtime_ns for p in files(tmp_path)} == before
    _, results = run(plugins, tmp_path, ["none", "zaremba"], force=True)
    assert len(results) == 2


def test_changed_config_is_not_mistaken_for_a_finished_job(plugins, tmp_path):
    run(plugins, tmp_path, ["variational"])
    _, results = run(plugins, tmp_path, [{"spec": "variational", "label": "variational", "params": {"p_input": 0.4}}])
    assert len(results) == 1 and len(files(tmp_path)) == 2


def test_failing_and_diverging_plugins_are_recorded_and_the_run_goes_on(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "bad.py").write_text(FAILING_PLUGIN)
    plugins = load_plugins(tmp_path / "plugins")
    small = {"model": {"hidden_size": 8, "embed_size": 8}, "train": {"epochs": 1}}
    diverging = {"model": {**small["model"], "init_scale": 1e38}, "train": {"epochs": 1}}
    raw = {"tasks": {"synthetic-sentiment": small, "synthetic-lm": diverging}, "regularizers": [{"spec": "broken", "label": "broken", "params": {"fail": True}}, "none"]}
    runner = Runner(plugins, tmp_path / "results")
    results = runner.run(expand(parse_suite(raw, "t", plugins), plugins))
    outcome = {(r["task"]["name"], r["regularizer"]["label"]): r for r in results}
    broken = outcome["synthetic-sentiment", "broken"]
    assert broken["status"] == "failed" and "RuntimeError: this plugin is broken on purpose" in broken["error"]
    assert outcome["synthetic-sentiment", "none"]["status"] == "ok"  # the run went on past the broken plugin
    diverged = outcome["synthetic-lm", "none"]
    assert diverged["status"] == "failed" and diverged["error"].startswith("diverged: loss became")
    assert len(files(tmp_path / "results")) == 4


def test_interrupted_run_loses_only_the_job_in_flight(plugins, tmp_path):
    calls = []

    def interrupt_second_job(event, info):
        if event == "start":
            calls.append(info["job"].regularizer.label)
            if len(calls) == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(plugins, tmp_path, ["none", "zaremba", "naive"], report=interrupt_second_job)
    assert [p.name.split("__")[0] for p in files(tmp_path)] == ["none"]
    events = []
    _, results = run(plugins, tmp_path, ["none", "zaremba", "naive"], report=lambda e, i: events.append(e))
    assert [r["regularizer"]["label"] for r in results] == ["zaremba", "naive"]
    assert events.count("skip") == 1


def test_a_crash_while_writing_leaves_no_partial_file(plugins, tmp_path, monkeypatch):
    import rnnreg.results as results

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "fsync", crash)
    with pytest.raises(OSError):
        run(plugins, tmp_path, ["none"])
    assert [f for f in files(tmp_path) if f.parent.name != ".checkpoints"] == []
    # what the job did is not lost: its last epoch checkpoint stays for the rerun to resume from
    assert [f.suffix for f in files(tmp_path) if f.parent.name == ".checkpoints"] == [".pt"]


def test_missing_data_fails_before_any_job_runs(plugins, tmp_path):
    from rnnreg.errors import RnnregError

    raw = {"tasks": {"synthetic-sentiment": FAST, "ptb": {}}, "regularizers": ["none"]}
    runner = Runner(plugins, tmp_path / "results", data_dir=tmp_path / "no-data")
    with pytest.raises(RnnregError, match="dataset 'ptb' is missing .* run `rnnreg data fetch ptb`"):
        runner.run(expand(parse_suite(raw, "t", plugins), plugins))
    assert not (tmp_path / "results").exists()


def test_results_carry_the_commit_the_process_started_on_not_one_made_while_it_ran(plugins, tmp_path, monkeypatch):
    from rnnreg import machine

    runner = Runner(plugins, tmp_path)
    loaded = machine.git_commit()
    monkeypatch.setattr(machine, "git", lambda *args: "f" * 40 + "\n")  # a commit made during the run
    [result] = runner.run(expand(suite(plugins, ["none"]), plugins))
    assert result["git_commit"] == loaded and loaded != "f" * 40


def test_a_label_no_filesystem_takes_gets_a_safe_name_decided_before_training(tmp_path):
    """300 characters: the file name is cut, with a hash of the whole label, so the job's result is written,
    read back and skipped on a rerun, and two long labels that share a beginning do not collide."""
    from click.testing import CliRunner

    from rnnreg.cli import cli

    long = "v" * 290 + "-first"
    other = "v" * 290 + "-other"
    suite = tmp_path / "long.yaml"
    suite.write_text("evaluation: {mc_samples: 0}\ntasks: {synthetic-sentiment: {train: {epochs: 1}, model: "
                     "{hidden_size: 8, embed_size: 8}}}\nregularizers:\n"
                     f"  - {{spec: variational, label: {long}}}\n  - {{spec: zaremba, label: {other}}}\n")
    args = ["run", "--suite", str(suite), "--results-dir", str(tmp_path / "r"), "--jobs", "1"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    names = sorted(p.name for p in (tmp_path / "r").rglob("*.json"))
    assert len(names) == 2 and all(len(name) < 140 for name in names) and names[0] != names[1]
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and again.stderr.count("result exists, skipped") == 2
