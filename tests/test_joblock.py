"""One job, one trainer: two `rnnreg run` processes on one results folder never train the same job; a
stale lock (its holder gone) is taken over with one line; SIGTERM stops a run as Ctrl-C does."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from rnnreg.cli import cli
from rnnreg.joblock import JobLock

LONG = ["-t", "synthetic-sentiment", "--set", "train.epochs=60", "--set", "model.hidden_size=32"]


def suite(tmp_path: Path) -> list[str]:
    path = tmp_path / "no-mc.yaml"
    path.write_text("evaluation: {mc_samples: 0}\ntasks: [synthetic-sentiment]\nregularizers: [none]\n")
    return ["--suite", str(path)]


def start(tmp_path: Path, results: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "rnnreg", "run", *suite(tmp_path), *args, "--results-dir", str(results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(folder: Path, pattern: str, count: int = 1, seconds: float = 120) -> list[Path]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = list(folder.glob(pattern))
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {pattern} in {folder} after {seconds} s")


def test_a_second_run_leaves_a_running_job_to_the_first_and_sigterm_keeps_its_checkpoint(tmp_path):
    results = tmp_path / "results"
    first = start(tmp_path, results, "-r", "none", *LONG)
    [lock] = wait_for(results / ".locks", "*.lock")
    wait_for(results / ".checkpoints", "*.pt")
    assert json.loads(lock.read_text())["pid"] == first.pid

    second = start(tmp_path, results, "-r", "none", *LONG)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert f"running in another process (pid {first.pid} on {socket.gethostname()}" in err.replace("\n", "")
    assert "epoch 1/60" not in err  # it trained nothing
    assert first.poll() is None, "the first run finished before the second looked: the job is too short"

    first.send_signal(signal.SIGTERM)  # what schedulers and `kill` send
    _, err = first.communicate(timeout=60)
    assert first.returncode == 143
    assert "terminated:" in err and "run the same command again to resume" in err.replace("\n", " ")
    assert "Traceback" not in err
    assert list((results / ".checkpoints").glob("*.pt")), "the in-flight checkpoint is kept"
    assert not list((results / ".locks").glob("*.lock")), "the lock is released"
    assert not list(results.rglob("*.json"))


def test_sigterm_stops_parallel_workers_and_keeps_their_checkpoints(tmp_path):
    results = tmp_path / "results"
    driver = start(tmp_path, results, "-r", "none", "-r", "zaremba", *LONG, "--jobs", "2")
    wait_for(results / ".checkpoints", "*.pt", count=2)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 143 and "terminated:" in err and "Traceback" not in err
    assert len(list((results / ".checkpoints").glob("*.pt"))) == 2
    deadline = time.monotonic() + 30  # the workers unwind their jobs and release their locks
    while list((results / ".locks").glob("*.lock")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list((results / ".locks").glob("*.lock"))
    assert not list(results.rglob("*.json"))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_stale_lock_of_a_dead_process_is_taken_over_in_one_line(tmp_path):
    args = ["run", *suite(tmp_path), "-r", "none", "-t", "synthetic-sentiment", "--set", "train.epochs=1",
            "--set", "model.hidden_size=8", "--results-dir", str(tmp_path / "r"), "--format", "json"]
    plan = CliRunner().invoke(cli, [*args, "--force"])  # learn the job's hash, then fake a crashed holder
    assert plan.exit_code == 0, plan.output
    [result] = (tmp_path / "r").rglob("*.json")
    digest = json.loads(result.read_text())["config_hash"]
    result.unlink()
    lock = tmp_path / "r" / ".locks" / f"{digest}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead_pid(), "started_at": "2026-01-01"}))
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "took over a stale lock of none" in out.stderr and "that process is gone" in out.stderr
    assert list((tmp_path / "r").rglob("*.json")) and not lock.exists()


def test_a_lock_from_another_host_is_held_until_it_stops_being_refreshed(tmp_path, monkeypatch):
    lock = JobLock(tmp_path, "abc")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "started_at": "now"}))
    assert JobLock(tmp_path, "abc").acquire()["host"] == "elsewhere"  # live: left to it
    old = time.time() - 3600
    os.utime(lock.path, (old, old))
    monkeypatch.setenv("RNNREG_LOCK_STALE_SECONDS", "600")
    warnings = []
    taker = JobLock(tmp_path, "abc", warn=warnings.append)
    assert taker.acquire() is None and "not refreshed for" in warnings[0]
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    taker.release()
    assert not lock.path.exists()
