"""Leaderboard rows, built from result files alone (rendering.py shows them).

Every result is accounted for. Results are grouped by configuration, never by label alone:
  - a *section* holds the results of one task under one setting (the full config without the regularizer
    and the seed: model, training, evaluation, versions, device). Two suites that train the same task
    differently (an LSTM and a GRU preset, a short CPU cut) are two sections, each ranked on its own,
    headed by the model's size and the training budget (so no one reads a 200-unit row against a
    1500-unit published number unawares), then whatever else tells it apart from the task's other sections;
  - a *row* holds the seeds of one regularizer configuration within a section: their mean and
    its 95 % t-interval, with n.
    Two configurations that share a label (the regularizer's version changed, say) are two rows, the
    label followed by what differs.
Rows are ranked by the validation primary metric within their section; failed jobs stay on the board as
failed; "Δ test vs none" is against the section's `none` row. MC metrics carry their number of passes.

Statistics (scipy.stats). Every metric gets a 95 % t-interval over its seeds (mean ± t·s/√n: seeds are
few, and the t-interval is the exact one for normal seed noise, where a bootstrap over 5 values is not).
Within a section each row is compared with the best row by a paired t-test on the validation metric over
the seeds both have: seeds pair rows (same initial weights and data order for every regularizer), which
removes the seed's own effect. Not Wilcoxon: with 5 pairs its smallest two-sided p is 0.0625, so it could
never call a difference at 0.05. A row the test cannot separate from the best (p ≥ 0.05) is marked "≈" beside
its rank by mean: not a tie, only not separated at this n.
"Δ vs none" gets its own paired t-interval. With one seed these are null: differences are untested.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import TypedDict, cast

from rnnreg.identity import canonical_json
from rnnreg.metrics import MetricName, Result, metric_name, primary_metric_of
from rnnreg.significance import ALPHA, mean_std, paired, paired_p_value, t_interval
from rnnreg.tables import natural_key
from rnnreg.tuned import role_of, searches_choosing, selection_records, tuned_studies, wholly_failed

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


def splits(value) -> str:
    return " and ".join(value) if isinstance(value, list) else str(value)


def number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# How a heading names a setting a reader knows: each a function of the value (and of the other settings).
IN_WORDS = {
    "model.embed_size": lambda v, d: f"embedding {v}",
    "evaluation.mc_samples": lambda v, d: "MC off" if not v else f"MC {v} passes" + (
        f" on {splits(d['evaluation.mc_splits'])}" if d.get("evaluation.mc_splits", UNSET) != UNSET else ""),
    "evaluation.mc_splits": lambda v, d: "" if "evaluation.mc_samples" in d else f"MC on {splits(v)}",
    "evaluation.curve_test": lambda v, d: "test curve every epoch" if v else "no test curve",
    "train.standardize_targets": lambda v, d: "standardised targets" if v else "raw targets",
    "evaluation.batch_size": lambda v, d: f"evaluated in batches of {v}",
    "train.weight_decay": lambda v, d: "no weight decay" if not v else (
        f"weight decay {number(v)}" + (f" ({d['train.weight_decay_mode']})"
                                       if d.get("train.weight_decay_mode", UNSET) != UNSET else "")),
    "train.weight_decay_mode": lambda v, d: "" if "train.weight_decay" in d else f"weight decay {v}",
    "train.lr": lambda v, d: f"lr {number(v)}",
    "train.clip": lambda v, d: f"gradient clip {number(v)}",
    "train.optimizer": lambda v, d: str(v),
    "versions.rnnreg": lambda v, d: f"rnnreg {v}",
    "versions.torch": lambda v, d: f"torch {v}",
    "device": lambda v, d: str(v).upper() if v in ("cpu", "cuda") else str(v),
}


def in_words(diff: dict, show_unset: bool = False) -> str:
    """What differs, as a heading says it: "embedding 256, MC off, no weight decay" ("key=value" for a
    setting it has no words for, and always in `--format json`'s `setting`)."""
    parts = []
    for key, value in diff.items():
        if value == UNSET and not show_unset:
            continue
        words = IN_WORDS.get(key)
        said = words(value, diff) if words and value != UNSET else f"{key}={value}"
        if said:
            parts.append(said)
    return ", ".join(parts)


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
    rest = in_words({k: v for k, v in diff.items() if k not in SHAPE_KEYS and not k.startswith("tuning.")},
                    show_unset)
    return " · ".join(part for part in (tuning_name(setting.get("tuning")), shape_of(setting), rest) if part)


def tuning_name(tuning: dict | None) -> str:
    """A tuned section's protocol in words: "tuned: 32 random trials + the default, best 3 rechecked on 2
    more seeds" (or, for a study from before references and rechecks, its trials and sampler seed)."""
    if not tuning:
        return ""
    draws = f"{tuning['trials']} {tuning['sampler']}"
    if "finalists" not in tuning:
        return f"tuned: {draws}-search trials each (sampler seed {tuning['sampler_seed']})"
    rechecked = (f", best {tuning['finalists']} rechecked on {tuning['select_seeds']} more seed"
                 f"{'s' if tuning['select_seeds'] != 1 else ''}") if tuning["select_seeds"] else ""
    return f"tuned: {draws} trials + the default{rechecked}"


tuning_role = role_of  # a result's role in `rnnreg tune` (rnnreg.tuned), or None


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
        metric = Result(runs[0]).name("valid")
        values = [value for r in ok if (value := Result(r).value("valid")) is not None]
        tuning = runs[0]["config"]["tuning"]
        searches = {r["config"]["tuning"].get("sampler_seed") for r in runs}
        costs = [r["cost"]["cpu_seconds_train"] + r["cost"]["cpu_seconds_evaluate"] for r in ok
                 if r.get("cost") and r["cost"]["epochs_trained"] == r["config"]["train"].get("epochs")]
        # a study with nothing to tune (before references existed) ran its one trial
        per_search = int(tuning.get("trials") or len(runs)) if any((r.get("study") or {}).get("params")
                                                                   for r in runs) else 1
        found[key] = {"trials": len(runs), "failed": len(runs) - len(ok), "metric": metric,
                      "budget": len(searches) * per_search, "per_search": per_search, "searches": len(searches),
                      "sampler": tuning.get("sampler"),
                      "cpu_seconds": statistics.fmean(costs) if costs else None,  # a trial's, without stalls
                      "curve": budget_curve(values, not MetricName.parse(metric).higher_is_better, per_search)
                      if values else []}
    return found


def use_current_references(results: list[dict], tasks) -> None:
    """Published numbers are facts about papers, not outputs of a run: give each result its registered
    task's current list, so a reference added later appears beside results run before it."""
    published = {entry.name: entry.cls.published for entry in tasks}
    for result in results:
        if published.get(result["task"]["name"]):
            result["reference"] = published[result["task"]["name"]]


class Row(TypedDict, total=False):
    """One row of the board: the seeds of one regularizer configuration within a section. Built once by
    `build_rows`, complete, and never changed afterwards; `--format json` prints it (without the `_` keys).

    metrics maps each metric name to {mean, std, ci_low, ci_high} over the seeds; rank exists only for rows
    with a validation number; budget only for tuned rows (the budget curve of their study); learned_rates
    only for rows that train their dropout rates."""

    task: str
    section: str  # the task's setting in words ("2 × 256 LSTM, 22 epochs, … · MC off, embedding 256")
    setting: str  # what sets the section apart, as config keys ("evaluation.mc_samples=0, model.embed_size=256")
    regularizer: str  # the label, followed by what tells it from same-label rows
    spec: str
    config_hash: str | None
    n: int  # seeds that finished
    seeds: list[int]
    status: str  # ok | partial | failed
    errors: list[str]
    primary_metric: str
    metrics: dict[str, dict]
    higher_is_better: dict[str, bool]
    mc_samples: int | list | None
    train_tokens_per_s: dict | None
    eval_tokens_per_s: dict | None
    wall_seconds: dict
    parameters: int | None
    oracle: dict | None
    reference: dict | None
    files: list[str]
    learned_rates: dict[str, dict]
    budget: dict | None
    selection: dict  # tuned rows of a study with references and rechecks: how they were chosen, how stable
    delta_vs_none: float | None  # test primary metric minus the section's none row
    delta_vs_none_ci_low: float | None
    delta_vs_none_ci_high: float | None
    rank: int
    tied_with_best: bool | None
    p_value_vs_best: float | None
    rank_label: str  # the rank by mean, "2 ≈" when the paired test cannot separate it from the best; "–"
    _by_seed: dict[str, dict[int, float]]  # for the paired statistics; not rendered
    _params: dict  # for sweep grids; not rendered


SELECTION_ROLES = ("trial", "reference", "recheck")  # how a tuned row was chosen, not rows of their own


def build_rows(results: list[dict]) -> list[Row]:
    # A tuning study's trials, reference and rechecks are not rows: they are how its tuned rows were chosen
    # (the budget curves, the selection and its stability, rnnreg.tuned).
    trials = [r for r in results if tuning_role(r) == "trial"]

    studies = tuned_studies(results)
    results = [r for r in results if tuning_role(r) not in SELECTION_ROLES]
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
    raw_settings: dict[tuple, str] = {}  # the same differences as keys, for --format json
    for keys in by_task.values():
        diffs = differences([json.loads(k[1]) for k in keys]) if len(keys) > 1 else [{}] * len(keys)
        names = [section_name(json.loads(key[1]), diff) for key, diff in zip(keys, diffs, strict=True)]
        if len(set(names)) < len(names):  # only "(unset)" told two apart: say it after all
            names = [section_name(json.loads(key[1]), diff, True) for key, diff in zip(keys, diffs, strict=True)]
        section_names.update(zip(keys, names, strict=True))
        raw_settings.update((key, describe(diff)) for key, diff in zip(keys, diffs, strict=True))

    # Each row's own numbers first, then what it is measured against (none, the best), then the row, once.
    drafts: list[dict] = []
    for key, groups in sections.items():
        task, _ = key
        labels = defaultdict(list)
        for reg_key, runs in groups.items():
            labels[runs[0]["regularizer"]["label"]].append(reg_key)
        for label, reg_keys in labels.items():
            diffs = differences([json.loads(k) for k in reg_keys]) if len(reg_keys) > 1 else [{}]
            for reg_key, diff in zip(reg_keys, diffs, strict=True):
                first = groups[reg_key][0]
                chosen_by = searches_choosing(studies, first) if diff else ""
                shown = f"{label} ({chosen_by or describe(diff)})" if diff else label
                tuned = {"budget": budget_of.get(budget_key(first))} if tuning_role(first) == "final" else {}
                drafts.append(make_row(task, section_names[key], shown, groups[reg_key]) | tuned
                              | {"setting": raw_settings[key]})
    drafts += failed_studies(studies, sections, section_names)
    records = selection_records(studies, lambda task, group: tuned_section_of(sections, section_names, task, group))
    for row in drafts:
        record = records.get((row["task"], row["section"], row["regularizer"].split(" (")[0]))
        if record is not None:
            row["selection"] = record
    baseline = {(d["task"], d["section"]): d for d in drafts
                if d["spec"] == "none" and d["regularizer"] == "none" and d["n"]}
    deltas = [delta_vs_none(d, baseline.get((d["task"], d["section"]))) for d in drafts]
    order = sorted(range(len(drafts)), key=lambda i: rank_key(drafts[i]))
    standings = standing_in_section([drafts[i] for i in order])
    return [cast(Row, {**drafts[i], **deltas[i], **standing}) for i, standing in zip(order, standings, strict=True)]


def tuned_section_of(sections: dict, section_names: dict, task: str, group: str) -> str | None:
    """The name of the section holding a tuning group's final rows."""
    for (section_task, setting), groups in sections.items():
        first = next(iter(groups.values()))[0]
        if section_task == task and (first["config"].get("tuning") or {}).get("group") == group:
            return section_names[(section_task, setting)]
    return None


def failed_studies(studies, sections: dict, section_names: dict) -> list[dict]:
    """A row for each regularizer of a tuned section whose every candidate failed (so it has no finals):
    it stays on the board, failed, with how many failed and the first reason."""
    rows = []
    for study, error, budget in wholly_failed(studies):
        section = tuned_section_of(sections, section_names, study.task, study.group)
        if section is None:
            continue
        runs = [study.reference] if study.reference else [next(iter(study.searches[0].trials.values()))]
        row = make_row(study.task, section, study.label, runs)
        row.update(status="failed", errors=[error], n=0,
                   budget={**budget, "metric": metric_name(row["primary_metric"]), "curve": []})
        rows.append(row)
    return rows


def delta_vs_none(row: dict, base: dict | None) -> dict:
    """Difference from the section's `none` on the test primary metric, with its paired interval."""
    test_key = metric_name(row["primary_metric"], "test")
    if base is None or test_key not in base["metrics"] or test_key not in row["metrics"]:
        return {"delta_vs_none": None, "delta_vs_none_ci_low": None, "delta_vs_none_ci_high": None}
    ours, theirs = paired(row["_by_seed"].get(test_key, {}), base["_by_seed"].get(test_key, {}))
    low, high = t_interval([u - v for u, v in zip(ours, theirs, strict=True)]) if row is not base else (None, None)
    return {"delta_vs_none": row["metrics"][test_key]["mean"] - base["metrics"][test_key]["mean"],
            "delta_vs_none_ci_low": low, "delta_vs_none_ci_high": high}


def rank_key(row: dict) -> tuple:
    key = metric_name(row["primary_metric"])
    if key not in row["metrics"]:
        return (row["task"], row["section"], 1, 0.0, row["regularizer"])
    value = row["metrics"][key]["mean"]
    signed = -value if row["higher_is_better"].get(key) else value
    return (row["task"], row["section"], 0, signed, row["regularizer"])


def standing_in_section(ranked: list[dict]) -> list[dict]:
    """For rows in rank order: rank, the paired test against the section's best on the validation metric,
    and the label shown: the rank by mean, with "≈" beside it for every row a paired test cannot separate from
    the best (not a tie: unseparated at this n)."""
    positions: dict[tuple, int] = defaultdict(int)
    best: dict[tuple, dict] = {}
    standings: list[dict] = []
    for row in ranked:
        section = (row["task"], row["section"])
        standing: dict = {"tied_with_best": None, "p_value_vs_best": None}
        valid_key = metric_name(row["primary_metric"])
        if row["n"] and valid_key in row["metrics"]:
            positions[section] += 1
            standing["rank"] = positions[section]
            if section not in best:
                best[section] = row
                if row["n"] > 1:
                    standing["tied_with_best"] = True
            else:
                p = paired_p_value(row["_by_seed"][valid_key], best[section]["_by_seed"][valid_key])
                if p is not None:
                    standing["p_value_vs_best"], standing["tied_with_best"] = p, p >= ALPHA
        standings.append(standing)
    for standing in standings:
        # The rank by mean, always; "≈" its own mark: a row the paired test cannot separate from the best.
        # (A rank copied from the best, "≈1", printed "≈1" under a separated "5" whenever a noisier row
        # below it escaped the test.)
        rank = standing.get("rank")
        standing["rank_label"] = "–" if rank is None else (
            f"{rank} ≈" if standing["tied_with_best"] and rank > 1 else str(rank))
    return standings


def make_row(task: str, section: str, label: str, runs: list[dict]) -> dict:
    # One result per seed: a rerun of the same configuration and seed replaces the older file's numbers.
    newest = {}
    for r in sorted(runs, key=lambda r: r.get("finished_at", "")):
        newest[r["seed"]] = r
    runs = list(newest.values())
    ok = [r for r in runs if r["status"] == "ok"]
    failed = [r for r in runs if r["status"] != "ok"]
    primary = primary_metric_of(runs[0])
    names = sorted({name for r in ok for name in r["metrics"]})
    by_seed = {name: {r["seed"]: r["metrics"][name]["value"] for r in ok if name in r["metrics"]} for name in names}
    mc_counts = sorted({r.get("mc_samples") or r.get("config", {}).get("evaluation", {}).get("mc_samples")
                        for r in ok if Result(r).has_mc} - {None})
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
