"""Keeping freed memory in the process (rnnreg/allocator.py) changes where tensors live, never a number:
the same job trained with malloc tuned and with it left alone gives the same result, metric for metric."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnreg import allocator

# A GRU with variational masks runs the step loop; batch × length × 3H floats is above glibc's default
# mmap threshold (128 KiB), so with malloc untouched each step maps and unmaps its large tensors.
SUITE = """evaluation: {mc_samples: 4}
tasks:
  synthetic-sentiment:
    model: {cell: gru, hidden_size: 48}
    train: {epochs: 2, batch_size: 64}
regularizers: [variational]
"""


def train_both_ways(tmp_path: Path) -> tuple[dict, dict]:
    """The job in two processes side by side (one thread each): malloc tuned, then left alone."""
    suite = tmp_path / "gru.yaml"
    suite.write_text(SUITE)
    processes = []
    for keep in ("1", "0"):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RNNREG_KEEP_FREED_MEMORY": keep}
        command = [sys.executable, "-m", "rnnreg", "run", "--suite", str(suite), "--results-dir",
                   str(tmp_path / f"keep-{keep}")]
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    [kept], [returned] = ((tmp_path / f"keep-{keep}").rglob("*.json") for keep in ("1", "0"))
    return json.loads(kept.read_text()), json.loads(returned.read_text())


@pytest.mark.skipif(not allocator.keep_freed_memory(), reason="the C library is not glibc: nothing to tune")
def test_the_same_job_gives_the_same_numbers_with_freed_memory_kept_or_returned(tmp_path):
    kept, returned = train_both_ways(tmp_path)
    assert kept["machine"]["malloc"] == "kept (glibc mallopt)"
    assert returned["machine"]["malloc"] == "default"
    assert kept["metrics"] == returned["metrics"]
    def numbers(curve):  # each epoch's record less its wall time
        return [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in curve]

    assert numbers(kept["curves"]) == numbers(returned["curves"])


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setenv("RNNREG_KEEP_FREED_MEMORY", "0")
    assert allocator.keep_freed_memory() is False
    assert allocator.state() == "default"
