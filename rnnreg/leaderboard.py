"""Leaderboards, built from result files alone.

Every result is accounted for. Results are grouped by configuration, never by label alone:
  - a *section* holds the results of one task under one setting (the full config without the regularizer
    and the seed: model, training, evaluation, versions, device). Two suites that train the same task
    differently (an LSTM and a GRU preset, a short CPU cut) are two sections, each ranked on its own,
    headed by the model's size and the training budget (so no one reads a 200-unit row against a
    1500-unit published number unawares), then whatever else tells it apart from the task's other sections;
  - a *row* holds the seeds of one regularizer configuration within a section: mean ± std over them, with n.
    Two configurations that share a label (the regularizer's version changed, say) are two rows, the
    label followed by what differs.
Rows are ranked by the validation primary metric within their section; failed jobs stay on the board as
failed; "Δ test vs none" is against the section's `none` row. MC metrics carry their number of passes.

Statistics (scipy.stats). Every metric gets a 95 % t-interval over its seeds (mean ± t·s/√n: seeds are
few, and the t-interval is the exact one for normal seed noise, where a bootstrap over 5 values is not).
Within a section each row is compared with the best row by a paired t-test on the validation metric over
the seeds both have: seeds pair rows (same initial weights and data order for every regularizer), which
removes the seed's own effect. Not Wilcoxon: with 5 pairs its smallest two-sided p is 0.0625, so it could
never call a difference at 0.05. A row the test cannot separate from the best (p ≥ 0.05) is ranked "≈1":
not a tie, only not separated at this n.
"Δ vs none" gets its own paired t-interval. With one seed these are null: differences are untested.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass

from rnnreg import __version__
from rnnreg.metrics import HIGHER_IS_BETTER, PRIMARY_METRIC
from rnnreg.results import canonical_json
from rnnreg.significance import ALPHA, mean_std, paired, paired_p_value, t_interval
from rnnreg.tables import markdown_table

SPLITS = ("valid", "test", "train")


def flatten(value, prefix: str = "") -> dict:
    """{"train": {"epochs": 8}} → {"train.epochs": 8}: the keys configurations are compared by."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat = {}
    for key, inner in value.items():
        flat.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def setting_of(result: dict) -> dict:
    """What makes results comparable: the config without the regularizer and the seed; for tuned rows also
    without the shared training knobs each regularizer tuned for itself (its chosen weight decay, say)."""
    config = result.get("config") or {}
    setting = {k: v for k, v in config.items() if k not in ("regularizer", "seed")}
    tuned = (setting.get("tuning") or {}).get("shared")
    if tuned:
        setting["train"] = {k: v for k, v in setting.get("train", {}).items() if f"train.{k}" not in tuned}
    return setting


def regularizer_of(result: dict) -> dict:
    config = result.get("config") or {}
    return config.get("regularizer") or result["regularizer"]


def differences(configs: list[dict]) -> list[dict]:
    """For each config, the flattened keys whose values are not the same in all of them."""
    flat = [flatten(c) for c in configs]
    keys = sorted({k for f in flat for k in f})
    differing = [k for k in keys if len({canonical_json(f.get(k, UNSET)) for f in flat}) > 1]
    return [{k: f.get(k, UNSET) for k in differing} for f in flat]


UNSET = "(unset)"


def describe(diff: dict, show_unset: bool = False) -> str:
    """`key=value, ...` of what differs; a key another configuration sets and this one does not is left out
    (the other one's heading names it), unless leaving it out would make two headings equal."""
    return ", ".join(f"{k}={v}" for k, v in diff.items() if show_unset or v != UNSET)


# The settings a section's heading spells out in words; they are left out of its list of differences.
SHAPE_KEYS = ("model.num_layers", "model.hidden_size", "model.cell", "train.epochs", "train.max_steps",
              "train.batch_size", "train.bptt")


def shape_of(setting: dict) -> str:
    """"2 × 200 LSTM, 13 epochs, batch 20 × BPTT 20": the model's size and the training budget."""
    model, train = setting.get("model") or {}, setting.get("train") or {}
    parts = []
    if model.get("hidden_size"):
        cell = str(model.get("cell", "")).upper()
        parts.append(f"{model.get('num_layers', 1)} × {model['hidden_size']} {cell}".rstrip())
    elif model.get("cell"):
        parts.append(str(model["cell"]).upper())
    if train.get("epochs"):
        epochs = f"{train['epochs']} epoch{'s' if train['epochs'] != 1 else ''}"
        parts.append(epochs + (f" of {train['max_steps']} steps" if train.get("max_steps") else ""))
    if train.get("batch_size"):
        parts.append(f"batch {train['batch_size']}" + (f" × BPTT {train['bptt']}" if train.get("bptt") else ""))
    return ", ".join(parts)


def section_name(setting: dict, diff: dict, show_unset: bool = False) -> str:
    rest = describe({k: v for k, v in diff.items() if k not in SHAPE_KEYS and not k.startswith("tuning.")},
                    show_unset)
    tuning = setting.get("tuning")
    tuned = (f"tuned: {tuning['trials']} {tuning['sampler']}-search trials each (sampler seed "
             f"{tuning['sampler_seed']})") if tuning else ""
    return " · ".join(part for part in (tuned, shape_of(setting), rest) if part)


def tuning_role(result: dict) -> str | None:
    """"trial" (one point of an `rnnreg tune` search), "final" (a best configuration retrained) or None."""
    return ((result.get("config") or {}).get("tuning") or {}).get("role")


def budget_key(result: dict) -> tuple:
    return (result["task"]["name"], result["config"]["tuning"]["group"], result["regularizer"]["label"])


def budgets(trials: list[dict]) -> dict[tuple, dict]:
    """Per (task, tuning group, label): the trials' count, failures and the expected-best curve of their
    validation metric (rnnreg.budget)."""
    from rnnreg.budget import budget_curve

    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for r in trials:
        grouped[budget_key(r)].append(r)
    found = {}
    for key, runs in grouped.items():
        ok = [r for r in runs if r["status"] == "ok"]
        metric = f"valid_{runs[0]['task'].get('primary_metric') or PRIMARY_METRIC[runs[0]['task']['kind']]}"
        values = [r["metrics"][metric]["value"] for r in ok]
        found[key] = {"trials": len(runs), "failed": len(runs) - len(ok), "metric": metric,
                      "curve": budget_curve(values, not HIGHER_IS_BETTER[metric.split("_")[1]]) if values else []}
    return found


def use_current_references(results: list[dict], tasks) -> None:
    """Published numbers are facts about papers, not outputs of a run: give each result its registered
    task's current list, so a reference added later appears beside results run before it."""
    published = {entry.name: entry.cls.published for entry in tasks}
    for result in results:
        if published.get(result["task"]["name"]):
            result["reference"] = published[result["task"]["name"]]


def build_rows(results: list[dict]) -> list[dict]:
    # A tuning study's trials are not rows: they are the budget curves of the tuned rows they led to.
    trials = [r for r in results if tuning_role(r) == "trial"]
    results = [r for r in results if tuning_role(r) != "trial"]
    budget_of = budgets(trials) if trials else {}
    sections: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        section = (r["task"]["name"], canonical_json(setting_of(r)))
        sections[section][canonical_json(regularizer_of(r))].append(r)

    # What tells a task's sections apart, and a section's same-label rows apart.
    by_task: dict[str, list[tuple]] = defaultdict(list)
    for key in sections:
        by_task[key[0]].append(key)
    section_names: dict[tuple, str] = {}
    for keys in by_task.values():
        diffs = differences([json.loads(k[1]) for k in keys]) if len(keys) > 1 else [{}] * len(keys)
        names = [section_name(json.loads(key[1]), diff) for key, diff in zip(keys, diffs, strict=True)]
        if len(set(names)) < len(names):  # only "(unset)" told two apart: say it after all
            names = [section_name(json.loads(key[1]), diff, True) for key, diff in zip(keys, diffs, strict=True)]
        section_names.update(zip(keys, names, strict=True))

    rows = []
    for key, groups in sections.items():
        task, _ = key
        labels = defaultdict(list)
        for reg_key, runs in groups.items():
            labels[runs[0]["regularizer"]["label"]].append(reg_key)
        for label, reg_keys in labels.items():
            diffs = differences([json.loads(k) for k in reg_keys]) if len(reg_keys) > 1 else [{}]
            for reg_key, diff in zip(reg_keys, diffs, strict=True):
                shown = f"{label} ({describe(diff)})" if diff else label
                row = make_row(task, section_names[key], shown, groups[reg_key])
                first = groups[reg_key][0]
                if tuning_role(first) == "final":
                    row["budget"] = budget_of.get(budget_key(first))
                rows.append(row)

    # Difference from the section's `none` on the test primary metric, with its paired interval.
    baseline = {(row["task"], row["section"]): row for row in rows
                if row["spec"] == "none" and row["regularizer"] == "none" and row["n"]}
    for row in rows:
        test_key = f"test_{row['primary_metric']}"
        base = baseline.get((row["task"], row["section"]))
        if base is None or test_key not in base["metrics"] or test_key not in row["metrics"]:
            row["delta_vs_none"] = row["delta_vs_none_ci_low"] = row["delta_vs_none_ci_high"] = None
            continue
        row["delta_vs_none"] = row["metrics"][test_key]["mean"] - base["metrics"][test_key]["mean"]
        ours, theirs = paired(row["_by_seed"].get(test_key, {}), base["_by_seed"].get(test_key, {}))
        low, high = t_interval([u - v for u, v in zip(ours, theirs, strict=True)]) if row is not base else (None, None)
        row["delta_vs_none_ci_low"], row["delta_vs_none_ci_high"] = low, high

    def rank_key(row):
        key = f"valid_{row['primary_metric']}"
        if key not in row["metrics"]:
            return (row["task"], row["section"], 1, 0.0, row["regularizer"])
        value = row["metrics"][key]["mean"]
        signed = -value if row["higher_is_better"].get(key) else value
        return (row["task"], row["section"], 0, signed, row["regularizer"])

    rows.sort(key=rank_key)
    positions: dict[tuple, int] = defaultdict(int)
    best: dict[tuple, dict] = {}
    for row in rows:
        section = (row["task"], row["section"])
        row["tied_with_best"], row["p_value_vs_best"] = None, None
        valid_key = f"valid_{row['primary_metric']}"
        if not row["n"] or valid_key not in row["metrics"]:
            continue
        positions[section] += 1
        row["rank"] = positions[section]
        if section not in best:
            best[section] = row
            if row["n"] > 1:
                row["tied_with_best"] = True
            continue
        p = paired_p_value(row["_by_seed"][valid_key], best[section]["_by_seed"][valid_key])
        if p is not None:
            row["p_value_vs_best"], row["tied_with_best"] = p, p >= ALPHA
    # "≈1": the best row and every row a paired test cannot separate from it (not a tie: unseparated at this n).
    tied: dict[tuple, int] = defaultdict(int)
    for row in rows:
        tied[(row["task"], row["section"])] += bool(row["tied_with_best"])
    for row in rows:
        shared = tied[(row["task"], row["section"])] > 1
        row["rank_label"] = ("≈1" if shared else "1") if row["tied_with_best"] else (
            str(row["rank"]) if "rank" in row else "–")
    return rows


def make_row(task: str, section: str, label: str, runs: list[dict]) -> dict:
    # One result per seed: a rerun of the same configuration and seed replaces the older file's numbers.
    newest = {}
    for r in sorted(runs, key=lambda r: r.get("finished_at", "")):
        newest[r["seed"]] = r
    runs = list(newest.values())
    ok = [r for r in runs if r["status"] == "ok"]
    failed = [r for r in runs if r["status"] != "ok"]
    kind = runs[0]["task"].get("kind", "language-model")
    primary = runs[0]["task"].get("primary_metric") or PRIMARY_METRIC[kind]
    names = sorted({name for r in ok for name in r["metrics"]})
    by_seed = {name: {r["seed"]: r["metrics"][name]["value"] for r in ok if name in r["metrics"]} for name in names}
    mc_counts = sorted({r.get("mc_samples") or r.get("config", {}).get("evaluation", {}).get("mc_samples")
                        for r in ok if any(n.endswith("_mc") for n in r["metrics"])} - {None})
    rate_keys = sorted({key for r in ok for key in r.get("learned_rates") or {}}, key=natural_key)
    finals = {key: [r["learned_rates"][key] for r in ok if key in r.get("learned_rates", {})] for key in rate_keys}
    # Only rows that learn rates have the key: every other row's JSON stays as it was.
    learned = {"learned_rates": {key: mean_std(values) for key, values in finals.items()}} if rate_keys else {}
    return learned | {
        "task": task,
        "section": section,
        "regularizer": label,
        "spec": runs[0]["regularizer"]["spec"],
        "config_hash": runs[0].get("config_hash"),
        "n": len(ok),
        "seeds": sorted(r["seed"] for r in ok),
        "status": "ok" if not failed else ("failed" if not ok else "partial"),
        "errors": [f"seed {r['seed']}: {r.get('error')}" for r in sorted(failed, key=lambda r: r["seed"])],
        "primary_metric": primary,
        "metrics": {name: mean_std([r["metrics"][name]["value"] for r in ok if name in r["metrics"]])
                    for name in names},
        # As recorded in the result files, not re-derived here.
        "higher_is_better": {name: next(r["metrics"][name]["higher_is_better"] for r in ok if name in r["metrics"])
                             for name in names},
        "mc_samples": mc_counts[0] if len(mc_counts) == 1 else (mc_counts or None),
        "train_tokens_per_s": mean_std([r["speed"]["train_tokens_per_s"]["median"] for r in ok]) if ok else None,
        "eval_tokens_per_s": mean_std([r["speed"]["eval_tokens_per_s"]["median"] for r in ok]) if ok else None,
        "wall_seconds": mean_std([r["wall_seconds"] for r in runs if "wall_seconds" in r] or [0.0]),
        "parameters": ok[0].get("parameters") if ok else None,
        "oracle": next((r.get("oracle") for r in runs if r.get("oracle")), None),
        "reference": next((r.get("reference") for r in runs if r.get("reference")), None),
        "files": sorted(r["_path"] for r in runs if "_path" in r),
        "_by_seed": by_seed,  # for the paired statistics; not rendered
        "_params": flatten(regularizer_of(runs[0]).get("params") or {}),  # for sweep grids; not rendered
    }


# --- rendering ------------------------------------------------------------------------------------

# Every column, in order; the terminal shows the essential ones first and adds the others while they fit.
COLUMNS = ("#", "regularizer", "n", "valid", "test", "Δ test vs none", "train", "valid MC", "test MC",
           "train tok/s", "eval tok/s", "wall s", "params")
ESSENTIAL = ("#", "regularizer", "n", "valid", "test", "Δ test vs none")


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if abs(value) < 1e4 else f"{value:,.0f}"


def fmt_stat(stat: dict | None, n: int, digits: int) -> str:
    """mean, and with several seeds ± the half-width of its 95 % t-interval."""
    if not stat:
        return "–"
    if stat.get("ci_low") is None:
        return fmt(stat["mean"], digits)
    return f"{fmt(stat['mean'], digits)} ± {fmt((stat['ci_high'] - stat['ci_low']) / 2, digits)}"


def table_cells(row: dict) -> list[str]:
    metric, digits = row["primary_metric"], (2 if row["primary_metric"] == "perplexity" else 4)
    m = row["metrics"]
    if not row["n"]:
        return ["–", row["regularizer"], "0", "failed: " + "; ".join(row["errors"])[:120]] + ["–"] * (len(COLUMNS) - 4)
    name = row["regularizer"] + (" (some seeds failed)" if row["status"] == "partial" else "")
    delta = row["delta_vs_none"]
    if delta is not None and row["delta_vs_none_ci_low"] is not None:
        half = (row["delta_vs_none_ci_high"] - row["delta_vs_none_ci_low"]) / 2
        delta_cell = f"{delta:+.{digits}f} ± {half:.{digits}f}"
    else:
        delta_cell = "–" if delta is None else f"{delta:+.{digits}f}"
    stat = lambda key: fmt_stat(m.get(key), row["n"], digits)  # noqa: E731  (one-line helper)
    return [
        row["rank_label"], name, str(row["n"]), stat(f"valid_{metric}"), stat(f"test_{metric}"), delta_cell,
        stat(f"train_{metric}"), stat(f"valid_{metric}_mc"), stat(f"test_{metric}_mc"),
        fmt(row["train_tokens_per_s"]["mean"], 0), fmt(row["eval_tokens_per_s"]["mean"], 0),
        fmt(row["wall_seconds"]["mean"], 1), f"{row['parameters']:,}" if row["parameters"] else "–",
    ]


def floor_cells(label: str, values: dict, metric: str) -> list[str]:
    digits = 2 if metric == "perplexity" else 4

    def get(split):
        value = values.get(split)
        return fmt(value.get(metric) if isinstance(value, dict) else values.get(f"{split}_{metric}"), digits)

    return ["", label, "", get("valid"), get("test")] + [""] * (len(COLUMNS) - 5)


def header(rows: list[dict]) -> list[str]:
    """Column names; the MC ones say how many passes their numbers average (when the section agrees)."""
    counts = {json.dumps(r["mc_samples"]) for r in rows if r["mc_samples"]}
    passes = f" ({json.loads(counts.pop())})" if len(counts) == 1 else (" (passes vary)" if counts else "")
    return [f"{c}{passes}" if c.endswith(" MC") else c for c in COLUMNS]


def natural_key(text: str) -> list:
    """Numbers in a heading compare as numbers, so "8 epochs" sorts before "250 epochs"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def section_keys(rows: list[dict]) -> list[tuple[str, str]]:
    """(task, section) in the order a reader wants them: boards with several seeds first, then one-seed
    boards, then history (sections of an older rnnreg version); within each by task, the board with the
    most rows first (a task's main board before its proxies), then by name."""
    most_seeds: dict[tuple[str, str], int] = {}
    size: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        key = (r["task"], r["section"])
        most_seeds[key] = max(most_seeds.get(key, 0), r["n"])
        size[key] += 1

    def priority(key: tuple[str, str]) -> int:
        versions = re.findall(r"versions\.rnnreg=([\w.+-]+)", key[1])
        return 2 if any(v != __version__ for v in versions) else 0 if most_seeds[key] >= 3 else 1

    return sorted(most_seeds, key=lambda key: (priority(key), key[0], -size[key], natural_key(key[1])))


@dataclass(frozen=True)
class Section:
    """One board section ready to render: a task under one setting, its rows' cells in rank order, then the
    oracle floor and the task's published references (listed once per task: a later section of the same
    task names the one that lists them in `references_in`)."""

    task: str
    name: str
    title: str
    caption: str
    header: list[str]
    cells: list[list[str]]
    references_in: str | None = None


def task_sections(rows: list[dict]) -> list[Section]:
    """Every section in reading order (section_keys)."""
    sections: list[Section] = []
    # A task's published references are listed once, under its section with the most rows (its main board).
    keys = section_keys(rows)
    size = {key: sum((r["task"], r["section"]) == key for r in rows) for key in keys}
    references_shown: dict[tuple[str, str], str] = {}  # (task, references) → the section listing them
    for task, section in sorted(keys, key=lambda key: -size[key]):
        reference = next((r["reference"] for r in rows if (r["task"], r["section"]) == (task, section)
                          and r["reference"]), None)
        if reference:
            references_shown.setdefault((task, canonical_json(reference)), f"{task} · {section}" if section else task)
    for task, section in keys:
        section_rows = [r for r in rows if r["task"] == task and r["section"] == section]
        metric = section_rows[0]["primary_metric"]
        title = f"{task} · {section}" if section else task
        better = "higher" if HIGHER_IS_BETTER.get(metric) else "lower"
        caption = f"{metric.capitalize()} ({better} is better), ranked by validation"
        if any(r["n"] > 1 for r in section_rows):
            caption += ("; ± is the 95 % t-interval over the n seeds; ≈1 marks rows not separated from the best "
                        "(paired t-test over shared seeds, p ≥ 0.05; not a tie)")
        else:
            caption += "; 1 seed: differences untested"
        cells = [table_cells(r) for r in section_rows]
        oracle = next((r["oracle"] for r in section_rows if r["oracle"]), None)
        if oracle:
            cells.append(floor_cells("oracle floor (known process)", oracle, metric))
        reference = next((r["reference"] for r in section_rows if r["reference"]), None)
        references_in = None
        if reference:
            listed_in = references_shown[(task, canonical_json(reference))]
            if listed_in == title:
                for source, values in sorted(reference.items()):
                    cells.append(floor_cells(f"published: {source}", values, metric))
            else:
                references_in = listed_in
                caption += f"; the published {task} references are listed under “{listed_in}”"
        sections.append(Section(task, section, title, caption, header(section_rows), cells, references_in))
    return sections


@dataclass
class Sweep:
    """A swept pair of parameters in one section: rows of one spec labelled `name[k=v,...]` with the same
    name, whose parameters differ in exactly two keys and fill their whole grid."""

    task: str
    section: str
    spec: str
    down: str
    across: str
    down_values: list
    across_values: list
    cell: dict  # (down value, across value) → row


def sweeps(rows: list[dict]):
    groups = defaultdict(list)
    for row in rows:
        if row["n"] and "[" in row["regularizer"]:
            groups[(row["task"], row["section"], row["spec"], row["regularizer"].split("[")[0])].append(row)
    for (task, section, spec, _), group in sorted(groups.items()):
        keys = sorted({k for r in group for k in r["_params"]})
        varying = [k for k in keys if len({canonical_json(r["_params"].get(k)) for r in group}) > 1]
        if len(varying) != 2:
            continue
        down, across = varying
        down_values = sorted({r["_params"].get(down) for r in group}, key=canonical_json)
        across_values = sorted({r["_params"].get(across) for r in group}, key=canonical_json)
        cell = {(r["_params"].get(down), r["_params"].get(across)): r for r in group}
        if len(cell) != len(group) or len(cell) != len(down_values) * len(across_values):
            continue
        yield Sweep(task, section, spec, down, across, down_values, across_values, cell)


def sweep_grids(rows: list[dict]):
    """Each sweep as a table: (task, section, caption, header, cells)."""
    for sweep in sweeps(rows):
        metric = next(iter(sweep.cell.values()))["primary_metric"]
        digits = 2 if metric == "perplexity" else 4
        where = f"{sweep.task}{' · ' + sweep.section if sweep.section else ''}"
        caption = (f"{sweep.spec} sweep on {where}: valid {metric} (mean ± 95 % interval), {sweep.down} down, "
                   f"{sweep.across} across")
        header = [f"{sweep.down} \\ {sweep.across}"] + [str(v) for v in sweep.across_values]
        cells = [[str(d)] + [fmt_stat(sweep.cell[d, a]["metrics"].get(f"valid_{metric}"), sweep.cell[d, a]["n"], digits)
                             for a in sweep.across_values] for d in sweep.down_values]
        yield sweep.task, sweep.section, caption, header, cells


def summary_lines(rows: list[dict], min_seeds: int = 3) -> list[str]:
    """The answer first: per section whose best row has at least `min_seeds` seeds, the best regularizer by
    validation, the rows a paired test cannot separate from it, and its test difference from `none`."""
    lines = []
    for task, section in section_keys(rows):
        ranked = [r for r in rows if r["task"] == task and r["section"] == section and "rank" in r]
        if not ranked or ranked[0]["n"] < min_seeds:
            continue
        best, metric = ranked[0], ranked[0]["primary_metric"]
        digits = 2 if metric == "perplexity" else 4
        valid = best["metrics"][f"valid_{metric}"]
        text = (f"**{task} · {section}**: {best['regularizer']}, valid {metric} "
                f"{fmt_stat(valid, best['n'], digits)} (n {best['n']})")
        level = [r["regularizer"] for r in ranked[1:] if r["rank_label"] == "≈1"]
        if level:
            text += f"; not separated from it: {', '.join(level)}"
        if best.get("delta_vs_none") is not None and best["spec"] != "none":
            low, high = best["delta_vs_none_ci_low"], best["delta_vs_none_ci_high"]
            interval = f" [{fmt(low, digits)}, {fmt(high, digits)}]" if low is not None else ""
            text += f"; test {metric} vs none {best['delta_vs_none']:+.{digits}f}{interval}"
        lines.append(f"- {text}")
    return lines


def budget_tables(rows: list[dict]):
    """Per tuned section: (task, section, caption, header, cells) of the expected best validation metric
    after n = 1, 4 and N trials."""
    for task, section in section_keys(rows):
        tuned = [r for r in rows if r["task"] == task and r["section"] == section and r.get("budget")]
        if not tuned:
            continue
        total = max(r["budget"]["trials"] for r in tuned)
        points = sorted({n for n in (1, 4, total) if n <= total})
        digits = 2 if tuned[0]["primary_metric"] == "perplexity" else 4
        caption = (f"Budget curves on {task}: expected best {tuned[0]['budget']['metric'].replace('_', ' ')} after "
                   "n random-search trials (Dodge et al. 2019, without replacement; ± one standard deviation)")
        header = ["regularizer", "trials"] + [f"n = {n}" for n in points]
        cells = []
        for row in tuned:
            curve = {point["n"]: point for point in row["budget"]["curve"]}
            failed = f" ({row['budget']['failed']} failed)" if row["budget"]["failed"] else ""
            cells.append([row["regularizer"], f"{row['budget']['trials']}{failed}"]
                         + [f"{fmt(curve[n]['mean'], digits)} ± {fmt(curve[n]['sd'], digits)}" if n in curve else "–"
                            for n in points])
        yield task, section, caption, header, cells


def learned_rate_tables(rows: list[dict]):
    """Per section with learned dropout rates (Concrete dropout): (task, section, caption, header, cells) of
    each rate's final value, per site and layer."""
    for task, section in section_keys(rows):
        learned = [r for r in rows if r["task"] == task and r["section"] == section and r.get("learned_rates")]
        if not learned:
            continue
        keys = sorted({key for r in learned for key in r["learned_rates"]}, key=natural_key)
        caption = (f"Learned dropout rates on {task}: p per site.layer at the end of training (mean ± 95 % interval "
                   "over the row's seeds; they start at the plugin's p_* parameters)")
        cells = [[r["regularizer"], str(r["n"])] + [fmt_stat(r["learned_rates"].get(key), r["n"], 3) for key in keys]
                 for r in learned]
        yield task, section, caption, ["regularizer", "n", *keys], cells


def render_markdown(rows: list[dict], title: str = "") -> str:
    out = [f"# {title}\n"] if title else []
    grids = list(sweep_grids(rows)) + list(budget_tables(rows)) + list(learned_rate_tables(rows))
    numeric = [c not in ("regularizer",) for c in COLUMNS]
    for section in task_sections(rows):
        out.append(f"## {section.title}\n\n{section.caption}.\n")
        out.extend(markdown_table(section.header, section.cells, numeric))
        out.append("")
        for _, _, grid_caption, grid_header, grid in (g for g in grids if g[:2] == (section.task, section.name)):
            out.append(f"{grid_caption}.\n")
            out.extend(markdown_table(grid_header, grid, [True] * len(grid_header)))
            out.append("")
    return "\n".join(out)


def render_csv(rows: list[dict]) -> str:
    names = sorted({name for row in rows for name in row["metrics"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    parts = ("mean", "std", "ci_low", "ci_high")
    extra = ("tied_with_best", "p_value_vs_best", "mc_samples", "delta_vs_none", "delta_vs_none_ci_low",
             "delta_vs_none_ci_high")
    writer.writerow(["task", "section", "rank", "regularizer", "spec", "n", "status"]
                    + [f"{name}_{s}" for name in names for s in parts]
                    + list(extra) + ["train_tokens_per_s", "eval_tokens_per_s", "wall_seconds", "parameters"])
    blank = lambda value: "" if value is None else value  # noqa: E731  (one-line helper)
    for row in rows:
        values = [blank(row["metrics"].get(name, {}).get(s)) for name in names for s in parts]
        speed = [row[k]["mean"] if row[k] else "" for k in ("train_tokens_per_s", "eval_tokens_per_s")]
        writer.writerow([row["task"], row["section"], row["rank_label"], row["regularizer"], row["spec"], row["n"],
                         row["status"], *values, *(blank(row[k]) for k in extra), *speed,
                         row["wall_seconds"]["mean"], row["parameters"] or ""])
    return buffer.getvalue()


def render_json(rows: list[dict]) -> str:
    public = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    return json.dumps(public, indent=2, sort_keys=True)


def choose_columns(sections: list, width: int | None, wanted: list[str] | None) -> tuple[list[int], list[str]]:
    """Indices of the columns to show and the names left out: the wanted ones, or the essential ones
    first and then the others in order, while the widest section still fits in `width` characters."""
    if wanted:
        return [COLUMNS.index(c) for c in wanted], [c for c in COLUMNS if c not in wanted]
    if width is None:
        return list(range(len(COLUMNS))), []

    def column_width(i):  # rich draws "│ cell ": the widest cell or header, padding and a rule
        cells = [len(row[i]) for section in sections for row in section.cells]
        return max(cells + [len(section.header[i]) for section in sections]) + 3

    chosen = [COLUMNS.index(c) for c in ESSENTIAL]
    used = 1 + sum(column_width(i) for i in chosen)
    for i in range(len(COLUMNS)):
        if i not in chosen and used + column_width(i) <= width:
            chosen.append(i)
            used += column_width(i)
    chosen.sort()
    return chosen, [COLUMNS[i] for i in range(len(COLUMNS)) if i not in chosen]


def render_rich(rows: list[dict], console, columns: list[str] | None = None, wide: bool = False) -> list[str]:
    """Print the table, fitted to the console unless `wide`; returns the names of the columns left out."""
    from rich.table import Table
    from rich.text import Text

    sections = task_sections(rows)
    keep, left_out = choose_columns(sections, None if wide else console.width, columns)
    for section in sections:
        table = Table(title=f"{section.title}\n{section.caption}", title_justify="left")
        for i in keep:
            table.add_column(section.header[i], justify="left" if COLUMNS[i] == "regularizer" else "right",
                             no_wrap=COLUMNS[i] != "regularizer", overflow="fold")
        for row in section.cells:
            table.add_row(*(Text(row[i]) for i in keep))  # labels like variational[untied=true] are not markup
        console.print(table)
    for _, _, caption, header, cells in [*sweep_grids(rows), *budget_tables(rows), *learned_rate_tables(rows)]:
        table = Table(title=caption, title_justify="left")
        for name in header:
            table.add_column(name, justify="right")
        for row in cells:
            table.add_row(*(Text(c) for c in row))
        console.print(table)
    return left_out
