"""How the board's rows are shown: a row's cells, sections in the order a reader wants them, sweep grids,
budget and learned-rate tables, the summary, and the four formats (`--format table|json|csv|markdown`).
The rows themselves, and every number in them, come from leaderboard.build_rows; nothing here computes."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass

from rnnreg import NUMERICS_VERSION
from rnnreg.budget import ADAPTIVE_SAMPLERS, searched_by_draws
from rnnreg.identity import canonical_json
from rnnreg.leaderboard import Row
from rnnreg.metrics import HIGHER_IS_BETTER, metric_name
from rnnreg.tables import markdown_table, natural_key

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


def table_cells(row: Row) -> list[str]:
    metric, digits = row["primary_metric"], (2 if row["primary_metric"] == "perplexity" else 4)
    m = row["metrics"]
    if not row["n"]:
        return ["–", row["regularizer"], "0", "failed: " + "; ".join(row["errors"])[:120]] + ["–"] * (len(COLUMNS) - 4)
    name = row["regularizer"] + (" (some seeds failed)" if row["status"] == "partial" else "")
    delta, low, high = row["delta_vs_none"], row["delta_vs_none_ci_low"], row["delta_vs_none_ci_high"]
    if delta is not None and low is not None and high is not None:
        half = (high - low) / 2
        delta_cell = f"{delta:+.{digits}f} ± {half:.{digits}f}"
    else:
        delta_cell = "–" if delta is None else f"{delta:+.{digits}f}"
    stat = lambda split, mc=False: fmt_stat(m.get(metric_name(metric, split, mc)), row["n"], digits)  # noqa: E731
    return [
        row["rank_label"], name, str(row["n"]), stat("valid"), stat("test"), delta_cell,
        stat("train"), stat("valid", True), stat("test", True),
        fmt((row["train_tokens_per_s"] or {}).get("mean"), 0), fmt((row["eval_tokens_per_s"] or {}).get("mean"), 0),
        fmt(row["wall_seconds"]["mean"], 1), f"{row['parameters']:,}" if row["parameters"] else "–",
    ]


def floor_cells(label: str, values: dict, metric: str) -> list[str]:
    digits = 2 if metric == "perplexity" else 4

    def get(split):
        value = values.get(split)
        return fmt(value.get(metric) if isinstance(value, dict) else values.get(f"{split}_{metric}"), digits)

    return ["", label, "", get("valid"), get("test")] + [""] * (len(COLUMNS) - 5)


def header(rows: list[Row]) -> list[str]:
    """Column names; the MC ones say how many passes their numbers average (when the section agrees)."""
    counts = {json.dumps(r["mc_samples"]) for r in rows if r["mc_samples"]}
    passes = f" ({json.loads(counts.pop())})" if len(counts) == 1 else (" (passes vary)" if counts else "")
    return [f"{c}{passes}" if c.endswith(" MC") else c for c in COLUMNS]


def section_keys(rows: list[Row]) -> list[tuple[str, str]]:
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
        versions = re.findall(r"\brnnreg (\d[\w.+-]*)", key[1])  # as leaderboard.IN_WORDS names the release
        return 2 if any(v != NUMERICS_VERSION for v in versions) else 0 if most_seeds[key] >= 3 else 1

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


def task_sections(rows: list[Row]) -> list[Section]:
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
            caption += ("; ± is the 95 % t-interval over the n seeds; ≈ beside a rank marks a row not separated from "
                        "the best (paired t-test over shared seeds, p ≥ 0.05; not a tie)")
        else:
            caption += "; 1 seed: differences untested"
        short = short_studies(section_rows)
        if short:
            caption += ("; fewer readable search trials than the budget for " + ", ".join(short)
                        + " (a refused or missing trial is trained again by rerunning `rnnreg tune`)")
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


def sweeps(rows: list[Row]):
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


def sweep_grids(rows: list[Row]):
    """Each sweep as a table: (task, section, caption, header, cells)."""
    for sweep in sweeps(rows):
        metric = next(iter(sweep.cell.values()))["primary_metric"]
        digits = 2 if metric == "perplexity" else 4
        where = f"{sweep.task}{' · ' + sweep.section if sweep.section else ''}"
        caption = (f"{sweep.spec} sweep on {where}: valid {metric} (mean ± 95 % interval), {sweep.down} down, "
                   f"{sweep.across} across")
        header = [f"{sweep.down} \\ {sweep.across}"] + [str(v) for v in sweep.across_values]
        valid = metric_name(metric)
        cells = [[str(d)] + [fmt_stat(sweep.cell[d, a]["metrics"].get(valid), sweep.cell[d, a]["n"], digits)
                             for a in sweep.across_values] for d in sweep.down_values]
        yield sweep.task, sweep.section, caption, header, cells


def summary_lines(rows: list[Row], min_seeds: int = 3) -> list[str]:
    """The answer first: per section whose best row has at least `min_seeds` seeds, the best regularizer by
    validation, the rows a paired test cannot separate from it, and its test difference from `none`."""
    lines = []
    for task, section in section_keys(rows):
        ranked = [r for r in rows if r["task"] == task and r["section"] == section and "rank" in r]
        if not ranked or ranked[0]["n"] < min_seeds:
            continue
        best, metric = ranked[0], ranked[0]["primary_metric"]
        digits = 2 if metric == "perplexity" else 4
        valid = best["metrics"][metric_name(metric)]
        text = (f"**{task} · {section}**: {best['regularizer']}, valid {metric} "
                f"{fmt_stat(valid, best['n'], digits)} (n {best['n']})")
        level = [r["regularizer"] for r in ranked[1:] if r["tied_with_best"]]
        if level:
            text += f"; not separated from it: {', '.join(level)}"
        if best.get("delta_vs_none") is not None and best["spec"] != "none":
            low, high = best["delta_vs_none_ci_low"], best["delta_vs_none_ci_high"]
            interval = f" [{fmt(low, digits)}, {fmt(high, digits)}]" if low is not None else ""
            text += f"; test {metric} vs none {best['delta_vs_none']:+.{digits}f}{interval}"
        lines.append(f"- {text}")
    return lines


def short_studies(section_rows: list[Row]) -> list[str]:
    """"zoneout (31 of 32)" for each tuned regularizer whose study holds fewer readable trials than its budget:
    a tuned section never shrinks silently."""
    found = {}
    for row in section_rows:
        budget = row.get("budget") or {}
        if budget.get("budget") and budget["trials"] < budget["budget"]:
            found[row["regularizer"].split(" (")[0]] = f"{budget['trials']} of {budget['budget']}"
    return [f"{label} ({count})" for label, count in found.items()]


def budget_tables(rows: list[Row]):
    """Per tuned section searched by draws (not a grid): (task, section, caption, header, cells) of the
    expected best validation metric after n = 1, 4 and N trials."""
    for task, section in section_keys(rows):
        tuned = [r for r in rows if r["task"] == task and r["section"] == section and r.get("budget")
                 and searched_by_draws((r.get("budget") or {}).get("sampler"))]
        if not tuned:
            continue
        tuned = list({r["regularizer"].split(" (")[0]: r for r in reversed(tuned)}.values())[::-1]  # one per label
        budget = {r["regularizer"]: r.get("budget") or {} for r in tuned}
        # One search's budget N: the board compares methods at what one search buys (several searches' draws,
        # pooled, estimate that curve better; they do not buy a larger budget)
        total = max(b.get("per_search") or b["trials"] for b in budget.values())
        points = sorted({n for n in (1, 4, total) if n <= total})
        digits = 2 if tuned[0]["primary_metric"] == "perplexity" else 4
        metric = budget[tuned[0]["regularizer"]]["metric"].replace("_", " ")
        caption = (f"Budget curves on {task}: expected best {metric} after "
                   "n random-search trials (Dodge et al. 2019, without replacement; ± one standard deviation)")
        adaptive = sorted({str(sampler) for r in tuned
                           if (sampler := (r.get("budget") or {}).get("sampler")) in ADAPTIVE_SAMPLERS})
        if adaptive:
            caption += (f"; {' and '.join(adaptive)} chose each trial from the ones before, so the draws are not "
                        "independent and the curve only describes them")
        if any((b.get("searches") or 1) > 1 for b in budget.values()):
            caption += (f"; up to one search's {total} trials, where the draws of a method's several searches "
                        "are pooled to estimate it")
        costs = [float(b["cpu_seconds"]) for b in budget.values() if b.get("cpu_seconds")]
        cheapest = min(costs) if costs else None
        if cheapest:
            caption += ("; at equal compute: the expected best after as many of its trials as the CPU time of "
                        f"{total} trials of the cheapest method buys (Dodge et al.'s time axis; CPU s a trial)")
        header = ["regularizer", "trials"] + [f"n = {n}" for n in points] + (
            ["CPU s a trial", "equal compute"] if cheapest else [])
        cells = []
        for row in tuned:
            mine = budget[row["regularizer"]]
            curve = {point["n"]: point for point in mine["curve"]}
            failed = f" ({mine['failed']} failed)" if mine["failed"] else ""
            short = f" of {mine['budget']}" if mine.get("budget", mine["trials"]) > mine["trials"] else ""
            pooled = f" in {mine['searches']} searches" if (mine.get("searches") or 1) > 1 else ""
            line = [row["regularizer"].split(" (")[0], f"{mine['trials']}{short}{pooled}{failed}"] + [
                f"{fmt(curve[n]['mean'], digits)} ± {fmt(curve[n]['sd'], digits)}" if n in curve else "–"
                for n in points]
            if cheapest:
                cost = mine.get("cpu_seconds")
                n = min(len(curve), int(total * cheapest / cost)) if cost else 0
                line += [fmt(cost, 1) if cost else "–",
                         f"{fmt(curve[n]['mean'], digits)} (n {n})" if n in curve
                         else "not one trial" if cost and n == 0 else "–"]
            cells.append(line)
        yield task, section, caption, header, cells


def selection_tables(rows: list[Row]):
    """Per tuned section with references and rechecks: how stable its ranking is and how each row was
    chosen (rnnreg.tuned): P(rank 1) and P(top 3) by bootstrap, what each search chose and gave, the
    selection's optimism, and chosen values at a range's edge."""
    for task, section in section_keys(rows):
        tuned = [r for r in rows if r["task"] == task and r["section"] == section and r.get("selection")]
        if not tuned:
            continue
        digits = 2 if tuned[0]["primary_metric"] == "perplexity" else 4
        first = tuned[0]["selection"]
        replicates = f"over {first['replicates']} bootstrap replicates" if first["replicates"] else "by bootstrap"
        caption = (f"How the tuned rows were chosen and how stable their order is: P(rank 1) and P(top 3) {replicates} "
                   "(each search's trials and final seeds resampled, "
                   "the choice redone; rnnreg/tuned.py); per search, what won (the default or trial k) and its "
                   "final-seed mean; optimism, what the selecting seeds promised minus what fresh seeds gave; "
                   "carried by, the dimensions that matter most over the search draws (Optuna's PED-ANOVA importance)")
        groups = first.get("groups") or []
        if first.get("finals_pending"):
            caption += (f"; rank probabilities only among the methods with all their finals (still pending: "
                        f"{', '.join(first['finals_pending'])})")
        if len(groups) > 1:
            caption += ("; with probability ≥ 0.9: " + " ahead of ".join("{" + ", ".join(g) + "}" for g in groups)
                        + ", undecided inside each")
        header = ["regularizer", "P(rank 1)", "P(top 3)", "chosen", "tuned valid", "optimism", "trials", "edge",
                  "carried by"]
        cells, seen = [], set()
        for row in tuned:
            label = row["regularizer"].split(" (")[0]
            if label in seen:
                continue
            seen.add(label)
            record = row["selection"]
            searches = record["searches"]
            cells.append([
                label,
                "–" if record.get("rank1") is None else f"{record['rank1']:.2f}",
                "–" if record.get("top3") is None else f"{record['top3']:.2f}",
                " / ".join(chosen_cell(s) for s in searches),
                " / ".join(fmt(s["outcome"], digits) if s["outcome"] is not None else "–" for s in searches),
                " / ".join(f"{s['optimism']:+.{digits}f}" if s["optimism"] is not None else "–" for s in searches),
                " / ".join(f"{s['trials']}" + (f" of {record['budget']}" if s["trials"] < record["budget"] else "")
                           for s in searches if record["budget"]) or "–",
                "; ".join(record["edge"]) or "–",
                ", ".join(f"{name} {share:.2f}" for name, share in list((record.get("importance") or {}).items())[:2])
                or "–",
            ])
        yield task, section, caption, header, cells


def chosen_cell(search: dict) -> str:
    """What a search chose: the default, or trial k — with its value where the search had one dimension (a
    strength search), which is then the whole configuration."""
    if search["chosen"] == "reference":
        return "default"
    params = search.get("params") or {}
    if len(params) == 1 and search["chosen"]:
        [(name, value)] = params.items()
        return f"{search['chosen']} ({name} {value:.3g})" if isinstance(value, int | float) else search["chosen"]
    return search["chosen"] or "–"


def search_curve_tables(rows: list[Row]):
    """Per tuned section whose rows were chosen on a one-dimensional grid (a strength search): the validation
    number at each grid point (seed 0), per regularizer, the chosen point marked."""
    for task, section in section_keys(rows):
        curved = {r["regularizer"].split(" (")[0]: r for r in rows if r["task"] == task and r["section"] == section
                  and (r.get("selection") or {}).get("curve")}
        if not curved:
            continue
        first = next(iter(curved.values()))
        dimension = first["selection"]["curve"]["dimension"]
        digits = 2 if first["primary_metric"] == "perplexity" else 4
        points = sorted({p for r in curved.values() for p, _ in r["selection"]["curve"]["points"]})
        caption = (f"The {dimension} search on {task}: validation {first['primary_metric']} at each point of the grid "
                   f"(seed 0; {dimension} 1 is the entry as written), * the point chosen on validation")
        header = ["regularizer"] + [f"{dimension} {p:g}" for p in points]
        cells = []
        for label, row in curved.items():
            curve = row["selection"]["curve"]
            value = dict((p, v) for p, v in curve["points"])
            cells.append([label] + [("–" if value.get(p) is None else fmt(value[p], digits))
                                    + ("*" if p in curve["chosen"] else "") for p in points])
        yield task, section, caption, header, cells


def tuned_grids(rows: list[Row]) -> list[tuple]:
    """A tuned section's tables beside its rows: how they were chosen, a strength search's curve, budgets."""
    return [*selection_tables(rows), *search_curve_tables(rows), *budget_tables(rows)]


def learned_rate_tables(rows: list[Row]):
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


def filled(section: Section, columns: list[int] | range) -> list[int]:
    """Of `columns`, those with a value in some row of the section (an all-"–" column, e.g. valid MC in a
    suite that runs MC on test only, says nothing); the essential ones always."""
    return [i for i in columns if COLUMNS[i] in ESSENTIAL or any(row[i] not in ("–", "") for row in section.cells)]


def render_markdown(rows: list[Row], title: str = "") -> str:
    out = [f"# {title}\n"] if title else []
    grids = [*sweep_grids(rows), *tuned_grids(rows), *learned_rate_tables(rows)]
    for section in task_sections(rows):
        out.append(f"## {section.title}\n\n{section.caption}.\n")
        shown = filled(section, range(len(COLUMNS)))
        header, cells = [section.header[i] for i in shown], [[row[i] for i in shown] for row in section.cells]
        out.extend(markdown_table(header, cells, [COLUMNS[i] != "regularizer" for i in shown]))
        out.append("")
        for _, _, grid_caption, grid_header, grid in (g for g in grids if g[:2] == (section.task, section.name)):
            out.append(f"{grid_caption}.\n")
            out.extend(markdown_table(grid_header, grid, [True] * len(grid_header)))
            out.append("")
    return "\n".join(out)


def render_csv(rows: list[Row]) -> str:
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
        plain: dict = dict(row)
        speed = [blank((plain[k] or {}).get("mean")) for k in ("train_tokens_per_s", "eval_tokens_per_s")]
        writer.writerow([row["task"], row["section"], row["rank_label"], row["regularizer"], row["spec"], row["n"],
                         row["status"], *values, *(blank(plain[k]) for k in extra), *speed,
                         row["wall_seconds"]["mean"], row["parameters"] or ""])
    return buffer.getvalue()


def render_json(rows: list[Row]) -> str:
    public = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    return json.dumps(public, indent=2, sort_keys=True)


def choose_columns(sections: list, width: int | None, wanted: list[str] | None) -> tuple[list[int], list[str]]:
    """Indices of the columns to show and the names left out: the wanted ones, or the essential ones
    first and then the others in order, while the widest section still fits in `width` characters."""
    if wanted:
        return [COLUMNS.index(c) for c in wanted], [c for c in COLUMNS if c not in wanted]
    if width is None:
        return list(range(len(COLUMNS))), []

    def column_width(i):  # rich draws "│ cell ": the widest cell or header line, padding and a rule
        cells = max([len(row[i]) for section in sections for row in section.cells] or [0])
        return max([cells] + [len(line) for section in sections
                              for line in stacked(section.header[i], cells).split("\n")]) + 3

    chosen = [COLUMNS.index(c) for c in ESSENTIAL]
    used = 1 + sum(column_width(i) for i in chosen)
    in_use = set().union(*(filled(section, range(len(COLUMNS))) for section in sections))
    for i in sorted(in_use):
        if i not in chosen and used + column_width(i) <= width:
            chosen.append(i)
            used += column_width(i)
    chosen.sort()
    return chosen, [COLUMNS[i] for i in sorted(in_use) if i not in chosen]


def stacked(header: str, cells: int) -> str:
    """A header wider than its column's cells, on two lines split at the space that balances them
    ("Δ test vs none" over "-6.13 ± 1.09"): the terminal's room goes to the regularizer's name."""
    words = header.split(" ")
    if len(header) <= cells or len(words) < 2:
        return header
    splits = [(" ".join(words[:k]), " ".join(words[k:])) for k in range(1, len(words))]
    return "\n".join(min(splits, key=lambda pair: max(map(len, pair))))


def render_rich(rows: list[Row], console, columns: list[str] | None = None, wide: bool = False) -> list[str]:
    """Print the table, fitted to the console unless `wide`; returns the names of the columns left out."""
    from rich.table import Table
    from rich.text import Text

    sections = task_sections(rows)
    keep, left_out = choose_columns(sections, None if wide else console.width, columns)
    for section in sections:
        table = Table(title=f"{section.title}\n{section.caption}", title_justify="left")
        shown = filled(section, keep)
        for i in shown:
            cells = max([len(row[i]) for row in section.cells] or [0])
            table.add_column(stacked(section.header[i], cells), justify="left" if COLUMNS[i] == "regularizer"
                             else "right", no_wrap=COLUMNS[i] != "regularizer", overflow="fold")
        for row in section.cells:
            table.add_row(*(Text(row[i]) for i in shown))  # labels like variational[untied=true] are not markup
        console.print(table)
    for _, _, caption, header, cells in [*sweep_grids(rows), *tuned_grids(rows), *learned_rate_tables(rows)]:
        table = Table(title=caption, title_justify="left")
        for name in header:
            table.add_column(name, justify="right")
        for row in cells:
            table.add_row(*(Text(c) for c in row))
        console.print(table)
    return left_out
