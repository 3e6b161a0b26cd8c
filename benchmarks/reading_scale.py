"""How the reading commands scale with the number of result files (issue 30): `rnnreg leaderboard`, `claims`
and `report` over N = 100, 1,000 and 10,000 synthetic results, in one run, written to
benchmarks/speed/reading-scale.json.

The results are the committed quick board's seed-0 files, copied to further seeds with their metrics
jittered (so every row has a spread) and their config hash recomputed, so each one passes the same
validation as a real result. Each command runs as a user runs it, in a fresh process, and is timed from
outside. The first `leaderboard` reads and checks every file ("cold", once); it leaves the folder's index
(`.rnnreg-index`), which the later reads use ("warm": `leaderboard` and `claims`, median of `--repeats`,
default 3; the report once, it is the slowest).

    python benchmarks/reading_scale.py [--sizes 100,1000,10000] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "benchmarks" / "results" / "quick"


def write_results(folder: Path, count: int) -> None:
    from rnnreg.identity import config_hash

    templates = [json.loads(p.read_text()) for p in sorted(TEMPLATES.rglob("*__seed0__*.json"))]
    jitter = random.Random(0)
    for index in range(count):
        result = json.loads(json.dumps(templates[index % len(templates)]))
        seed = index // len(templates)
        result["seed"] = result["config"]["seed"] = seed
        for name, entry in result["metrics"].items():
            value = entry["value"] * (1 + jitter.gauss(0, 0.01))
            entry["value"] = min(value, 1.0) if "error" in name else max(value, 1.0) if "perplexity" in name else value
        result["config_hash"] = config_hash(result["config"])
        label = result["regularizer"]["label"]
        path = folder / result["task"]["name"] / f"{label}__seed{seed}__{result['config_hash'][:12]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result))


def timed(command: list[str], repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds), "n": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "speed" / "reading-scale.json"))
    args = parser.parse_args()
    from rnnreg.results import git_commit, machine_info

    rnnreg = [sys.executable, "-m", "rnnreg"]
    report = {"command": "python benchmarks/reading_scale.py " + f"--sizes {args.sizes} --repeats {args.repeats}",
              "git_commit": git_commit(), "machine": machine_info("cpu"),
              "help": timed([*rnnreg, "--help"], args.repeats), "sizes": []}
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="rnnreg-scale-") as scratch:
            folder = Path(scratch) / "results"
            write_results(folder, size)
            board = [*rnnreg, "leaderboard", str(folder), "--format", "json"]
            row = {"results": size,
                   "leaderboard_cold": timed(board, 1),
                   "leaderboard": timed(board, args.repeats),
                   "claims": timed([*rnnreg, "claims", str(folder), "--format", "json"], args.repeats),
                   "report": timed([*rnnreg, "report", str(folder), "--out", str(Path(scratch) / "site")], 1)}
            row["leaderboard_ms_per_result"] = 1000 * row["leaderboard"]["median_s"] / size
            report["sizes"].append(row)
            print(f"{size:>6} results: leaderboard cold {row['leaderboard_cold']['median_s']:.2f} s, warm "
                  f"{row['leaderboard']['median_s']:.2f} s, claims "
                  f"{row['claims']['median_s']:.2f} s, report {row['report']['median_s']:.2f} s", file=sys.stderr)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
