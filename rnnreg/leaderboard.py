"""Leaderboards, built from result files alone.

One row per (task, regularizer label): mean ± std over seeds, with n; validation, test and training
metrics (the training metric shows the overfitting gap); the MC-dropout metric; the difference from
`none`; speed; wall time; parameters. Rows are ranked by the validation primary metric; failed jobs stay
on the board as failed. When several results exist for one (task, label, seed) — the config changed
between runs — the newest counts.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict

from rnnreg.tasks.base import HIGHER_IS_BETTER, PRIMARY_METRIC

SPLITS = ("valid", "test", "train")


def mean_std(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def latest_per_seed(results: list[dict]) -> list[dict]:
    newest: dict[tuple, dict] = {}
    for r in sorted(results, key=lambda r: r.get("finished_at", "")):
        newest[(r["task"]["name"], r["regularizer"]["label"], r["seed"])] = r
    return list(newest.values())


def build_rows(results: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in latest_per_seed(results):
        groups[(r["task"]["name"], r["regularizer"]["label"])].append(r)

    rows = []
    for (task, label), runs in groups.items():
        ok = [r for r in runs if r["status"] == "ok"]
        failed = [r for r in runs if r["status"] != "ok"]
        kind = runs[0]["task"].get("kind", "language-model")
        primary = runs[0]["task"].get("primary_metric") or PRIMARY_METRIC[kind]
        names = sorted({name for r in ok for name in r["metrics"]})
        row = {
            "task": task,
            "regularizer": label,
            "spec": runs[0]["regularizer"]["spec"],
            "n": len(ok),
            "seeds": sorted(r["seed"] for r in ok),
            "status": "ok" if not failed else ("failed" if not ok else "partial"),
            "errors": [f"seed {r['seed']}: {r.get('error')}" for r in sorted(failed, key=lambda r: r["seed"])],
            "primary_metric": primary,
            "metrics": {name: mean_std([r["metrics"][name]["value"] for r in ok if name in r["metrics"]]) for name in names},
            # As recorded in the result files, not re-derived here.
            "higher_is_better": {name: next(r["metrics"][name]["higher_is_better"] for r in ok if name in r["metrics"])
                                 for name in names},
            "train_tokens_per_s": mean_std([r["speed"]["train_tokens_per_s"]["median"] for r in ok]) if ok else None,
            "eval_tokens_per_s": mean_std([r["speed"]["eval_tokens_per_s"]["median"] for r in ok]) if ok else None,
            "wall_seconds": mean_std([r["wall_seconds"] for r in runs]),
            "parameters": ok[0]["parameters"] if ok else None,
            "oracle": next((r.get("oracle") for r in runs if r.get("oracle")), None),
            "reference": next((r.get("reference") for r in runs if r.get("reference")), None),
        }
        rows.append(row)

    # Difference from `none` on the test primary metric, within each task.
    baseline = {row["task"]: row for row in rows if row["spec"] == "none" and row["regularizer"] == "none" and row["n"]}
    for row in rows:
        key = f"test_{row['primary_metric']}"
        base = baseline.get(row["task"])
        have = base and key in base["metrics"] and key in row["metrics"]
        row["delta_vs_none"] = row["metrics"][key]["mean"] - base["metrics"][key]["mean"] if have else None

    def rank_key(row):
        key = f"valid_{row['primary_metric']}"
        if key not in row["metrics"]:
            return (row["task"], 1, 0.0, row["regularizer"])
        value = row["metrics"][key]["mean"]
        return (row["task"], 0, -value if row["higher_is_better"].get(key) else value, row["regularizer"])

    rows.sort(key=rank_key)
    for task in {row["task"] for row in rows}:
        for position, row in enumerate((r for r in rows if r["task"] == task and r["n"]), 1):
            row["rank"] = position
    return rows


# --- rendering ------------------------------------------------------------------------------------

COLUMNS = ("#", "regularizer", "n", "valid", "test", "train", "valid MC", "test MC", "Δ test vs none",
           "train tok/s", "eval tok/s", "wall s", "params")


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if abs(value) < 1e4 else f"{value:,.0f}"


def fmt_stat(stat: dict | None, n: int, digits: int) -> str:
    if not stat:
        return "–"
    return fmt(stat["mean"], digits) + (f" ± {fmt(stat['std'], digits)}" if n > 1 else "")


def table_cells(row: dict) -> list[str]:
    metric, digits = row["primary_metric"], (2 if row["primary_metric"] == "perplexity" else 4)
    m = row["metrics"]
    if not row["n"]:
        return ["–", row["regularizer"], "0", "failed: " + "; ".join(row["errors"])[:120]] + ["–"] * (len(COLUMNS) - 4)
    name = row["regularizer"] + (" (some seeds failed)" if row["status"] == "partial" else "")
    delta = row["delta_vs_none"]
    return [
        str(row.get("rank", "–")), name, str(row["n"]),
        *(fmt_stat(m.get(key), row["n"], digits) for key in
          (f"valid_{metric}", f"test_{metric}", f"train_{metric}", f"valid_{metric}_mc", f"test_{metric}_mc")),
        "–" if delta is None else f"{delta:+.{digits}f}",
        fmt(row["train_tokens_per_s"]["mean"], 0), fmt(row["eval_tokens_per_s"]["mean"], 0),
        fmt(row["wall_seconds"]["mean"], 1), f"{row['parameters']:,}",
    ]


def floor_cells(label: str, values: dict, metric: str) -> list[str]:
    digits = 2 if metric == "perplexity" else 4
    get = lambda split: fmt(values.get(split, {}).get(metric) if isinstance(values.get(split), dict) else values.get(f"{split}_{metric}"), digits)  # noqa: E731
    return ["", label, "", get("valid"), get("test")] + [""] * (len(COLUMNS) - 5)


def task_sections(rows: list[dict]):
    """(task, caption, rows of cells) per task, in task order."""
    for task in sorted({row["task"] for row in rows}):
        task_rows = [r for r in rows if r["task"] == task]
        metric = task_rows[0]["primary_metric"]
        caption = f"{task}: {metric} ({'higher' if HIGHER_IS_BETTER.get(metric) else 'lower'} is better), ranked by validation"
        cells = [table_cells(r) for r in task_rows]
        oracle = next((r["oracle"] for r in task_rows if r["oracle"]), None)
        if oracle:
            cells.append(floor_cells("oracle floor (known process)", oracle, metric))
        reference = next((r["reference"] for r in task_rows if r["reference"]), None)
        for source, values in sorted((reference or {}).items()):
            cells.append(floor_cells(f"published: {source}", values, metric))
        yield task, caption, cells


def render_markdown(rows: list[dict], title: str = "") -> str:
    out = [f"# {title}\n"] if title else []
    for task, caption, cells in task_sections(rows):
        out.append(f"## {task}\n\n{caption}.\n")
        out.append("| " + " | ".join(COLUMNS) + " |")
        out.append("|" + "|".join("---:" if c not in ("regularizer",) else "---" for c in COLUMNS) + "|")
        out.extend("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells)
        out.append("")
    return "\n".join(out)


def render_csv(rows: list[dict]) -> str:
    names = sorted({name for row in rows for name in row["metrics"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "rank", "regularizer", "spec", "n", "status"]
                    + [f"{name}_{s}" for name in names for s in ("mean", "std")]
                    + ["delta_vs_none", "train_tokens_per_s", "eval_tokens_per_s", "wall_seconds", "parameters"])
    for row in rows:
        stats = [row["metrics"].get(name, {}).get(s, "") for name in names for s in ("mean", "std")]
        speed = [row[k]["mean"] if row[k] else "" for k in ("train_tokens_per_s", "eval_tokens_per_s")]
        writer.writerow([row["task"], row.get("rank", ""), row["regularizer"], row["spec"], row["n"], row["status"],
                         *stats, "" if row["delta_vs_none"] is None else row["delta_vs_none"], *speed,
                         row["wall_seconds"]["mean"], row["parameters"] or ""])
    return buffer.getvalue()


def render_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2, sort_keys=True)


def render_rich(rows: list[dict], console) -> None:
    from rich.table import Table
    from rich.text import Text

    for task, caption, cells in task_sections(rows):
        table = Table(title=caption, title_justify="left")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column == "regularizer" else "right")
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))  # labels like variational[untied=true] are not markup
        console.print(table)
