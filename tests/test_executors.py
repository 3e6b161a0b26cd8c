"""Executors and checkpoints: every executor writes the same results, a job killed mid-run resumes to the
numbers of an uninterrupted one, and a checkpoint that cannot be trusted is ignored with a warning."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from rnnreg.checkpoint import Checkpoint
from rnnreg.cli import cli
from rnnreg.executors import threads_per_job

SENTIMENT = ["-t", "synthetic-sentiment", "--set", "train.epochs=6"]
LM = ["-t", "synthetic-lm", "--set", "train.epochs=3", "--set", "train.max_steps=30"]


@pytest.fixture(autouse=True)
def no_mc(tmp_path, monkeypatch):
    """The quick suite without its 100 MC passes: these tests are about where and when jobs run."""
    suite = tmp_path / "no-mc.yaml"
    suite.write_text("evaluation: {mc_samples: 0}\ntasks: [synthetic-lm, synthetic-sentiment]\nregularizers: [none]\n")
    monkeypatch.setattr(sys.modules[__name__], "SUITE", ["--suite", str(suite)])


SUITE: list[str] = []


def run_cli(results: Path, *args: str):
    out = CliRunner().invoke(cli, ["run", *SUITE, *args, "--results-dir", str(results), "--format", "json"])
    assert out.exit_code == 0, out.output
    return out


def metrics(results: Path) -> dict:
    found = {}
    for path in sorted(results.rglob("*.json")):
        result = json.loads(path.read_text())
        found[(result["regularizer"]["label"], result["task"]["name"], result["seed"])] = result["metrics"]
    return found


def only_result(results: Path) -> dict:
    [path] = list(results.rglob("*.json"))
    return json.loads(path.read_text())


@pytest.mark.parametrize("task, spec", [(SENTIMENT, "variational"), (LM, "variational"), (LM, "concrete")],
                         ids=["sequence", "language-model", "learned-rates"])
def test_a_job_killed_after_a_checkpoint_resumes_to_the_uninterrupted_numbers(tmp_path, task, spec):
    """Learned rates resume too: their values are in the model's state and their Adam's in the optimizer's."""
    args = ["-r", spec, *task]
    run_cli(tmp_path / "whole", *args)
    whole = only_result(tmp_path / "whole")

    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "rnnreg", "run", *SUITE, *args, "--results-dir", str(killed)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((killed / ".checkpoints").glob("*.pt")):
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)  # as the OOM killer or a preempted node would
    process.wait()
    assert list((killed / ".checkpoints").glob("*.pt")), "the job never wrote a checkpoint"
    assert not list(killed.rglob("*.json")), "the job finished before it could be killed"

    out = run_cli(killed, *args)  # the same command again
    resumed = only_result(killed)
    assert resumed["checkpoint"]["resumed_after_epoch"] >= 1
    assert resumed["wall_seconds"] > resumed["checkpoint"]["seconds_before_resume"] > 0  # the whole job's time
    assert resumed["metrics"] == whole["metrics"]
    assert resumed.get("learned_rates") == whole.get("learned_rates")
    assert [c["valid_" + whole["task"]["primary_metric"]] for c in resumed["curves"]] == \
        [c["valid_" + whole["task"]["primary_metric"]] for c in whole["curves"]]
    assert not list((killed / ".checkpoints").glob("*.pt")), "a written result removes its checkpoint"
    assert "Traceback" not in out.output


def test_an_untrustworthy_checkpoint_is_ignored_with_a_warning(tmp_path):
    args = ["-r", "none", "-t", "synthetic-sentiment", "--set", "train.epochs=2"]
    run_cli(tmp_path, *args)
    first = only_result(tmp_path)
    digest = first["config_hash"]
    checkpoints = tmp_path / ".checkpoints"
    checkpoints.mkdir(exist_ok=True)
    for content, message in ((b"not a checkpoint", "cannot be read"), (None, "belongs to another config")):
        next(tmp_path.rglob("*.json")).unlink()
        if content is None:
            torch.save({"config_hash": "someone else's", "epoch": 1}, checkpoints / f"{digest}.pt")
        else:
            (checkpoints / f"{digest}.pt").write_bytes(content)
        out = run_cli(tmp_path, *args)
        assert f"warning: checkpoint {checkpoints / digest}.pt {message}" in " ".join(out.output.split())
        again = only_result(tmp_path)
        assert again["metrics"] == first["metrics"] and again["checkpoint"]["resumed_after_epoch"] is None


def test_no_resume_ignores_a_checkpoint(tmp_path):
    Checkpoint(tmp_path, "abc").save({"epoch": 3})
    assert Checkpoint(tmp_path, "abc").load()["epoch"] == 3
    assert Checkpoint(tmp_path, "abc", resume=False).load() is None


GRID = ["-r", "none", "-r", "variational", "-t", "synthetic-sentiment", "--set", "train.epochs=2"]


def test_two_local_workers_write_the_same_results_as_one(tmp_path):
    # Rounding depends on the thread count (on the AMD EPYC machine, `none` differed between 1 and 2
    # threads), so the one in-process run uses the threads each of the two workers gets.
    torch.set_num_threads(threads_per_job(2))
    run_cli(tmp_path / "one", *GRID)
    run_cli(tmp_path / "two", *GRID, "--jobs", "2")
    assert metrics(tmp_path / "two") == metrics(tmp_path / "one") and len(metrics(tmp_path / "one")) == 2


def test_ray_missing_is_a_one_line_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    out = CliRunner().invoke(cli, ["run", *SUITE, *GRID, "--executor", "ray", "--results-dir", str(tmp_path)])
    assert out.exit_code == 1 and 'pip install "rnnreg[ray]"' in out.output and "Traceback" not in out.output
    assert not list(tmp_path.rglob("*.json"))


def test_a_local_ray_instance_writes_the_same_results_as_the_local_executor(tmp_path):
    """... and each Ray task runs its job's observers (here the README's CSV observer) where it runs."""
    ray = pytest.importorskip("ray", reason='Ray is an extra: pip install -e ".[ray]"')
    run_cli(tmp_path / "local", *GRID)
    log = tmp_path / "epochs.csv"
    csv_example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "rnnreg-csv-log"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = CliRunner().invoke(cli, ["--plugins-dir", str(csv_example), "run", *SUITE, *GRID, "--executor", "ray",
                                       "--log", f"csv:{log}", "--results-dir", str(tmp_path / "ray")])
        assert out.exit_code == 0, out.output
    finally:
        ray.shutdown()
    assert metrics(tmp_path / "ray") == metrics(tmp_path / "local")
    assert sorted({row.split(",")[0] for row in log.read_text().splitlines()}) == [
        "synthetic-sentiment/none/seed 0", "synthetic-sentiment/variational/seed 0"]


def test_the_default_is_one_job_per_core_on_cpu_and_never_more_than_there_are_jobs(monkeypatch):
    from rnnreg import executors
    from rnnreg.errors import RnnregError

    monkeypatch.delenv("RNNREG_JOBS")
    monkeypatch.setattr(executors, "usable_cores", lambda: 4)
    from pathlib import Path

    from rnnreg.jobs import PlannedJob

    planned = [PlannedJob(None, {}, "", Path("x"), "new")] * 3 + [PlannedJob(None, {}, "", Path("y"), None)] * 5
    assert executors.jobs_at_once(planned, "local", None, "cpu") == 3
    assert executors.jobs_at_once(planned * 2, "local", None, "cpu") == 4
    assert executors.threads_per_job(4) == 1 and executors.threads_per_job(1) == 4
    assert executors.jobs_at_once(planned, "local", 1, "cpu") == 1
    monkeypatch.setenv("RNNREG_JOBS", "2")
    assert executors.jobs_at_once(planned, "local", None, "cpu") == 2
    monkeypatch.setenv("RNNREG_JOBS", "two")
    with pytest.raises(RnnregError, match=r"RNNREG_JOBS='two': expected a whole number of jobs, 1 or more"):
        executors.jobs_at_once(planned, "local", None, "cpu")


def test_parallel_workers_report_each_jobs_epochs_and_mc_passes_by_name(tmp_path):
    """Workers relay their progress to the driver: in a log, each epoch line and each split's MC passes
    name the job they belong to, and no job is announced before a worker takes it."""
    out = CliRunner().invoke(cli, ["run", "-r", "none", "-r", "variational", "-t", "synthetic-sentiment",
                                   "--set", "train.epochs=2", "--jobs", "2", "--results-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    for index, label in ((1, "none"), (2, "variational")):
        name = f"[{index}/2] synthetic-sentiment · {label} · seed 0"
        assert f"  {name} epoch 1/2: valid_error" in out.stderr and f"  {name} epoch 2/2" in out.stderr
    assert "  [2/2] synthetic-sentiment · variational · seed 0 MC: 100 passes over test" in out.stderr  # the quick suite's split
    assert "[1/2] synthetic-sentiment · none · seed 0 MC" not in out.stderr  # nothing to sample without dropout


def alive(pid: int) -> bool:
    """A process that still runs (a zombie waiting for its reaper has stopped: it holds nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker states from /proc (Linux)")
@pytest.mark.parametrize("command", ["run", "tune"])
def test_local_workers_die_with_a_driver_killed_by_sigkill(tmp_path, command):
    """SIGKILL tells a driver's workers nothing: each must notice by itself, stop its job (the lock released,
    the checkpoint kept) and exit within seconds, instead of training the queue on and then hanging."""
    results = tmp_path / "results"
    if command == "run":
        args = ["run", "-r", "none", "-r", "zaremba", "-r", "naive", "-t", "synthetic-sentiment",
                "--set", "train.epochs=200", *SUITE]
    else:
        suite = tmp_path / "tune.yaml"
        suite.write_text("evaluation: {mc_samples: 0}\ntasks: {synthetic-sentiment: {train: {epochs: 200}}}\n"
                         "regularizers: [zaremba, naive]\n")
        args = ["tune", "--suite", str(suite), "--trials", "3", "--final-seeds", "1"]
    driver = subprocess.Popen([sys.executable, "-m", "rnnreg", *args, "--jobs", "2", "--results-dir", str(results)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    locks = results / ".locks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(locks.glob("*.lock"))) < 2:
        time.sleep(0.05)
    holders = [json.loads(path.read_text())["pid"] for path in locks.glob("*.lock")]
    assert len(holders) == 2 and driver.pid not in holders, "two workers should hold a job each"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (any(alive(pid) for pid in holders) or list(locks.glob("*.lock"))):
        time.sleep(0.1)
    assert not [pid for pid in holders if alive(pid)], "a worker outlived its driver"
    assert not list(locks.glob("*.lock")), "a worker that stopped kept its job's lock"
    assert not list(results.rglob("*.json")), "a worker went on to finish a job after its driver died"
