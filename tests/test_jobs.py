"""A job is built once: for a two-job run, one regularizer build per job, one plan check per model (none per
BPTT window), and each result file validated once per command, whichever step looks at it."""

from collections import Counter

import pytest
from click.testing import CliRunner

import rnnreg.dropout
import rnnreg.jobs
import rnnreg.model
import rnnreg.regularizer
import rnnreg.results
from rnnreg.cli import cli


@pytest.fixture
def counted(monkeypatch):
    calls: Counter = Counter()

    def counting(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            if name == "build_regularizer":
                calls[f"build {args[0]} {sorted(args[1].items())}"] += 1
            if name == "check_result":
                calls[f"file {args[0].get('config_hash')}"] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting(rnnreg.regularizer, "build_regularizer")
    for module in (rnnreg.jobs, rnnreg.model):
        counting(module, "check_plan_fits")
    counting(rnnreg.results, "check_result")
    return calls


def test_two_jobs_build_once_check_each_model_once_and_validate_each_file_once(tmp_path, counted):
    args = ["run", "-r", "variational", "-r", "zaremba", "-t", "synthetic-lm", "--set", "train.epochs=1",
            "--set", "train.max_steps=12", "--set", "model.hidden_size=16", "--set", "model.embed_size=16",
            "--jobs", "1", "--results-dir", str(tmp_path / "r"), "--format", "json"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    builds = {key: n for key, n in counted.items() if key.startswith("build ")}
    # every configuration built once, however often it is looked at: the jobs' two (planned, hashed, trained)
    # and the suite's other rows (checked when the suite loads)
    assert set(builds.values()) == {1} and {"build variational []", "build zaremba []"} <= set(builds)
    assert counted["check_plan_fits"] == 4  # per job: its config when planned, its model when built; no window
    files = {key: n for key, n in counted.items() if key.startswith("file ")}
    assert len(files) == 2 and set(files.values()) == {1}  # each new file validated once, when read back
    counted.clear()
    rnnreg.results._checked.clear()  # as a new process would start: what this one checked is not carried
    assert CliRunner().invoke(cli, args).exit_code == 0  # the rerun skips both jobs
    files = {key: n for key, n in counted.items() if key.startswith("file ")}
    assert len(files) == 2 and set(files.values()) == {1}  # planned and read back: validated once each
