"""Trials per hour of `rnnreg tune` with one process, two local workers and a local Ray instance (issue 24),
in one run, written to benchmarks/speed/tune-throughput.json; and the tuner's own cost per trial (ask,
tell, storage) against a trial's wall time.

The workload is quick-sized: synthetic-sentiment at its defaults without MC (about 15 s a job on 2 cores
here), zaremba and variational, `--trials` each, random search, sampler seed 0, no final seeds. Each
executor gets a fresh results folder and study database, so every trial trains; the wall time is the whole
`rnnreg tune` command as a user runs it (start-up, worker spawning and Ray's start included). `--jobs 2`
runs two one-thread workers; Ray gets `--jobs 2` too (two one-CPU tasks at a time).

    python benchmarks/tune_throughput.py [--trials 8] [--executors jobs1,jobs2,ray] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = """name: throughput
evaluation: {mc_samples: 0}
tasks: [synthetic-sentiment]
regularizers: [zaremba, variational]
"""
EXECUTORS = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "ray": ["--executor", "ray", "--jobs", "2"]}
TUNER_LINE = re.compile(r"(\d+) trials told this run; the tuner's own time ([\d.]+) s: ([\d.]+) s opening")


def measure(name: str, trials: int, work: Path) -> dict:
    suite = work / "suite.yaml"
    suite.write_text(SUITE)
    results = work / name
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rnnreg", "tune", "--suite", str(suite), "--trials", str(trials),
                           "--final-seeds", "0", "--results-dir", str(results), *EXECUTORS[name]],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name}: rnnreg tune failed:\n{done.stderr[-2000:]}")
    told, tuner_seconds, open_seconds = TUNER_LINE.search(done.stderr).groups()
    per_trial = (float(tuner_seconds) - float(open_seconds)) / int(told)
    files = [p for p in results.rglob("*.json") if ".checkpoints" not in p.parts]
    walls = [json.loads(p.read_text())["wall_seconds"] for p in files]
    return {"executor": name, "trials": int(told), "wall_seconds": wall, "trials_per_hour": int(told) / wall * 3600,
            "median_trial_seconds": statistics.median(walls), "tuner_seconds": float(tuner_seconds),
            "tuner_open_seconds": float(open_seconds), "tuner_seconds_per_trial": per_trial,
            "tuner_share_of_a_trial": per_trial / statistics.median(walls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="Trials per regularizer (two regularizers).")
    parser.add_argument("--executors", default="jobs1,jobs2,ray")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "speed" / "tune-throughput.json")
    args = parser.parse_args()
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.executors.split(","):
            rows.append(measure(name, args.trials, Path(tmp)))
            row = rows[-1]
            print(f"{name:6} {row['trials']} trials in {row['wall_seconds']:.1f} s: {row['trials_per_hour']:.0f} "
                  f"trials/hour (median trial {row['median_trial_seconds']:.1f} s; tuner "
                  f"{row['tuner_open_seconds']:.2f} s opening, {1000 * row['tuner_seconds_per_trial']:.0f} ms a trial, "
                  f"{100 * row['tuner_share_of_a_trial']:.2f} % of one)", file=sys.stderr)
    base = next((r for r in rows if r["executor"] == "jobs1"), None)
    for row in rows:
        row["speedup_over_jobs1"] = row["trials_per_hour"] / base["trials_per_hour"] if base else None
    report = {"benchmark": "tune-throughput", "workload": SUITE, "trials_per_regularizer": args.trials,
              "torch": torch.__version__, "python": platform.python_version(), "rows": rows}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
