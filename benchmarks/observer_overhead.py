"""What live logging costs a quick job (issue 29): the quick suite's variational job on each embedded task,
run with no observer, `--log tensorboard` and `--log mlflow`, interleaved, `--repeats` times each, in one run,
written to benchmarks/speed/observer-overhead.json.

Two numbers per observer: `observer_seconds` (what the job's own thread spent inside the observer, as the
result records it) over the job's wall time, and the ratio of median wall times with and without the
observer (which also catches work an observer does on threads of its own). Each job runs as a user runs
it, in a fresh `rnnreg run` process with `--force`; stores and event files go to a temporary folder, the
SQLite store created before the first timed job, as `--log mlflow` does once per run.

    python benchmarks/observer_overhead.py [--repeats 5] [--tasks synthetic-sentiment,synthetic-lm] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("none", "tensorboard", "mlflow")


def run_job(task: str, arm: str, work: Path) -> dict:
    results = work / "results"
    log = {"none": [], "tensorboard": ["--log", f"tensorboard:{work / 'tb'}"],
           "mlflow": ["--log", f"mlflow:sqlite:///{work / 'mlflow.db'}"]}[arm]
    subprocess.run([sys.executable, "-m", "rnnreg", "run", "--suite", "quick", "-t", task, "-r", "variational",
                    "--force", "--results-dir", str(results), "--format", "json", *log],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    [path] = [p for p in results.rglob("*.json") if ".checkpoints" not in p.parts]
    result = json.loads(path.read_text())
    path.unlink()
    return {"wall_seconds": result["wall_seconds"], "observers": result.get("observers", {}),
            "observer_seconds": result.get("observer_seconds", {}).get(arm, 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tasks", default="synthetic-sentiment,synthetic-lm")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "speed" / "observer-overhead.json")
    args = parser.parse_args()
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for task in args.tasks.split(","):
            runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
            for repeat in range(args.repeats):
                for arm in ARMS:  # interleaved, so a slow minute of the machine hits every arm alike
                    runs[arm].append(run_job(task, arm, work))
                    print(f"{task} · {arm} · repeat {repeat + 1}: {runs[arm][-1]['wall_seconds']:.2f} s",
                          file=sys.stderr)
            base = statistics.median(r["wall_seconds"] for r in runs["none"])
            for arm in ARMS:
                walls = [r["wall_seconds"] for r in runs[arm]]
                inside = [r["observer_seconds"] / r["wall_seconds"] for r in runs[arm]]
                rows.append({"task": task, "observer": arm, "n": len(walls),
                             "median_wall_seconds": statistics.median(walls), "wall_seconds": walls,
                             "wall_ratio_to_none": statistics.median(walls) / base,
                             "median_observer_share": statistics.median(inside), "max_observer_share": max(inside),
                             "failed": sorted({s for r in runs[arm] for s in r["observers"].values() if s != "ok"})})
    report = {"benchmark": "observer-overhead", "job": "quick suite, variational, seed 0, 100 MC passes",
              "torch": torch.__version__, "python": platform.python_version(), "processor": platform.processor(),
              "rows": rows}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for row in rows:
        print(f"{row['task']:20} {row['observer']:12} n={row['n']} median wall {row['median_wall_seconds']:.2f} s "
              f"(×{row['wall_ratio_to_none']:.3f} of none), "
              f"in-job share median {100 * row['median_observer_share']:.2f} % "
              f"max {100 * row['max_observer_share']:.2f} %")


if __name__ == "__main__":
    main()
