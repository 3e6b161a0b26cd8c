"""The report's figures (matplotlib, the `[report]` extra): learning curves, test curves, mask pictures,
sweeps, budget curves against trials and CPU time, rank probabilities, learned rates and speed. Each
function takes the board's rows (or a result's numbers) and returns a figure; report.py lays them out."""

from __future__ import annotations

import statistics
import textwrap
from dataclasses import dataclass
from typing import Any

from rnnreg.budget import searched_by_draws
from rnnreg.errors import RnnregError
from rnnreg.leaderboard import Row
from rnnreg.metrics import metric_name

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", "-.", ":"]
TRAIN_METRIC = {"perplexity": ("train_perplexity_dropout", "training perplexity (with dropout)"),
                "error": ("train_loss", "training loss (cross-entropy, with dropout)"),
                "rmse": ("train_loss", "training loss (MSE on standardised targets, with dropout)")}
METRIC_UNITS = {"perplexity": "perplexity (lower is better)", "error": "error rate (lower is better)",
                "rmse": "RMSE, rating units (lower is better)"}


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RnnregError('rnnreg report needs matplotlib: pip install "rnnreg[report]"') from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


# --- learning curves ----------------------------------------------------------------------------------


def curve_series(runs: list[dict], key: str) -> dict[str, list[float]]:
    """Per epoch over the runs' curves: mean, min and max of `key` (epochs every run reached)."""
    curves = [[c[key] for c in r["curves"] if key in c] for r in runs if r.get("curves")]
    curves = [c for c in curves if c]
    if not curves:
        return {"epoch": [], "mean": [], "min": [], "max": []}
    length = min(len(c) for c in curves)
    columns = [[c[i] for c in curves] for i in range(length)]
    return {"epoch": list(range(1, length + 1)), "mean": [statistics.fmean(v) for v in columns],
            "min": [min(v) for v in columns], "max": [max(v) for v in columns]}


def floor_lines(section_rows: list[Row], metric: str) -> tuple[str, list[float]] | None:
    """The lines the curves are read against: the oracle floor of a known process, else every published
    validation number of the task (which one matches a row's setting is the table's business)."""
    for row in section_rows:
        oracle = row.get("oracle") or {}
        if metric in oracle.get("valid", {}):
            return "oracle floor", [oracle["valid"][metric]]
    for row in section_rows:
        name = metric_name(metric)
        published = [v[name] for v in (row.get("reference") or {}).values() if name in v]
        if published:
            return "published validation results (see the table)", sorted(published)
    return None


def plot_curves(section_rows: list[Row], runs_of: dict[str, list[dict]], title: str):
    """Small multiples, one panel per regularizer on shared axes: validation (solid) and training
    (dashed) metric per epoch, mean over seeds with a min–max band. Returns (figure, plotted data)."""
    plt = pyplot()
    metric = section_rows[0]["primary_metric"]
    train_key, train_label = TRAIN_METRIC.get(metric, ("train_loss", "training loss"))
    same_units = metric == "perplexity"  # training loss of a classifier is not an error rate: own axis
    rows = [r for r in section_rows if r["n"]]
    cols = min(4, len(rows))
    nrows = -(-len(rows) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(max(3.2 * cols, 6.4), 2.5 * nrows + 1.0), sharex=True,
                             sharey=True, squeeze=False)
    floor = floor_lines(section_rows, metric)
    data: dict[str, dict[str, Any]] = {}
    twins: list = []  # training loss axes (classifiers): one shared scale, labelled on the right column
    for index, (ax, row) in enumerate(zip(axes.flat, rows, strict=False)):
        runs = runs_of[row["regularizer"]]
        valid, train = curve_series(runs, metric_name(metric)), curve_series(runs, train_key)
        data[row["regularizer"]] = {"valid": valid, "train": train, "n": row["n"]}
        ax.plot(valid["epoch"], valid["mean"], color=PALETTE[0], marker=MARKERS[0], markersize=3,
                label=f"validation {metric}")
        ax.fill_between(valid["epoch"], valid["min"], valid["max"], color=PALETTE[0], alpha=0.2, linewidth=0)
        train_ax = ax
        if not same_units:
            train_ax = ax.twinx()
            if twins:
                train_ax.sharey(twins[0])
            twins.append(train_ax)
            if index % cols != cols - 1 and index != len(rows) - 1:
                train_ax.tick_params(labelright=False)
            else:
                train_ax.set_ylabel(train_label.split(" (")[0], fontsize=8)
        train_ax.plot(train["epoch"], train["mean"], color=PALETTE[1], marker=MARKERS[1], markersize=3,
                      linestyle="--", label=train_label)
        train_ax.fill_between(train["epoch"], train["min"], train["max"], color=PALETTE[1], alpha=0.15, linewidth=0)
        floor_label, floor_values = floor or ("", [])
        for k, value in enumerate(floor_values):
            ax.axhline(value, color=PALETTE[6], linestyle=":", linewidth=1, label=floor_label if k == 0 else None)
        ax.set_title(f"{row['regularizer']} (n={row['n']})".replace("[", "\n["), fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    if same_units:  # perplexities spread over orders of magnitude in the first epochs: log scale, and the
        # view is the range where the regularizers differ (the last epochs), not the first epoch's
        from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

        axis = axes[0][0]
        axis.set_yscale("log")
        ends = [d["valid"]["mean"][-1] for d in data.values() if d["valid"]["mean"]]
        lows = [min(d["train"]["min"] or d["valid"]["min"]) for d in data.values() if d["valid"]["mean"]]
        if ends:
            bottom = min(lows + ([min(floor[1])] if floor else [])) * 0.9
            top = max(ends) * 2.5
            axis.set_ylim(bottom, top)
            nice = [m * 10**e for e in range(0, 6) for m in (1, 1.5, 2, 3, 4, 6)]
            axis.yaxis.set_major_locator(FixedLocator([v for v in nice if bottom <= v <= top]))
        axis.yaxis.set_major_formatter(ScalarFormatter())
        axis.yaxis.set_minor_formatter(NullFormatter())
    for ax in axes[:, 0]:
        ax.set_ylabel(METRIC_UNITS.get(metric, metric), fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if twins:
        h2, l2 = twins[0].get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    fig.legend(handles, labels, loc="lower center", ncol=3 if cols > 2 else 1, fontsize=8, frameon=False)
    fig.suptitle("\n".join(textwrap.wrap(f"{title}: learning curves (mean over seeds, band: min–max)",
                                          width=int(16 * fig.get_figwidth()))), fontsize=9)
    fig.tight_layout(rect=(0, 0.16 if cols <= 2 else 0.06, 1, 0.95))
    return fig, data


def plot_test_curves(section_rows: list[Row], runs_of: dict[str, list[dict]], title: str):
    """The paper's sentiment figure: the test split's metric per epoch, every regularizer on one axis (mean
    over seeds, min–max band), the MC-dropout test number after the last epoch as an open marker. Only
    runs with `evaluation.curve_test` record a test curve; returns None when none did, else (figure, data)."""
    plt = pyplot()
    metric = section_rows[0]["primary_metric"]
    test = metric_name(metric, "test")
    drawn = [(row, curve_series(runs_of[row["regularizer"]], test)) for row in section_rows if row["n"]]
    drawn = [(row, series) for row, series in drawn if series["epoch"]]
    if not drawn:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    data: dict[str, dict[str, Any]] = {}
    for k, (row, series) in enumerate(drawn):
        color, marker = PALETTE[k % len(PALETTE)], MARKERS[k % len(MARKERS)]
        ax.plot(series["epoch"], series["mean"], color=color, marker=marker, markersize=4,
                markevery=max(1, len(series["epoch"]) // 10), linestyle=LINESTYLES[k % len(LINESTYLES)],
                label=f"{row['regularizer']} (n={row['n']})")
        ax.fill_between(series["epoch"], series["min"], series["max"], color=color, alpha=0.15, linewidth=0)
        mc = (row["metrics"].get(metric_name(metric, "test", mc=True)) or {}).get("mean")
        if mc is not None:  # the number the paper reports: MC dropout after training
            ax.plot([series["epoch"][-1]], [mc], color=color, marker=marker, markersize=8, markerfacecolor="none",
                    linestyle="none")
        data[row["regularizer"]] = {"test": series, "test_mc": mc, "n": row["n"]}
    if metric == "perplexity":
        ax.set_yscale("log")
    if any(d["test_mc"] is not None for d in data.values()):
        ax.plot([], [], color=PALETTE[6], marker="o", markerfacecolor="none", linestyle="none",
                label="MC dropout, test, after the last epoch")
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel(f"test {METRIC_UNITS.get(metric, metric)}", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("\n".join(textwrap.wrap(f"{title}: test {metric} per epoch (mean over seeds, band: min–max)",
                                         width=110)), fontsize=8)
    fig.tight_layout()
    return fig, data


# --- mask pictures ------------------------------------------------------------------------------------


def plot_masks(picture: dict):
    """What each site does to one sequence, first layer, one sample: a panel per site the regularizer acts
    on (rows = steps, columns = units; dark = kept / takes the new value), W_hh's mask for weight-drop."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    sites = [s for s, v in picture["sites"].items() if v is not None]
    penalties = picture["penalties"]
    panels = max(1, len(sites))
    fig, axes = plt.subplots(1, panels, figsize=(2.0 * panels + 0.8, 2.6 if sites else 1.2), squeeze=False)
    cmap = ListedColormap(["#FFFFFF", "#0072B2"])
    for ax, site in zip(axes[0], sites, strict=False):
        value = picture["sites"][site]
        if site == "weight_recurrent":
            grid = value["matrix"]
            ax.set_title(f"W_hh ({value['gate']} block)\nkept {value['kept_fraction']:.0%}", fontsize=8)
            ax.set_xlabel("unit (input)", fontsize=7)
        elif site == "embedding":
            grid = [[k] for k in value]
            ax.set_title("embedding\n(word types)", fontsize=8)
            ax.set_yticks(range(len(value)), picture["tokens"], fontsize=6)
        else:
            grid = value if not isinstance(value, dict) else next(iter(value.values()))
            note = " (gate 1 of untied)" if isinstance(value, dict) else ""
            legend = {"zoneout": "white: keeps previous", "continuous": "shade: multiplier 0–2"}
            ax.set_title(f"{site}{note}\n" + legend.get(picture["kinds"].get(site, "dropout"), "white: dropped"),
                         fontsize=8)
            ax.set_xlabel("unit", fontsize=7)
        if picture["kinds"].get(site) == "continuous":  # Gaussian or relaxed masks: a shade per multiplier
            ax.imshow(grid, cmap="Blues", vmin=0, vmax=2, aspect="auto", interpolation="nearest")
        else:
            ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        if site != "embedding":
            ax.set_yticks([])
        ax.set_xticks([])
    if not sites:
        axes[0][0].axis("off")
        text = "no mask" + (": loss terms " + ", ".join(p["name"] for p in penalties) if penalties else "")
        axes[0][0].text(0.5, 0.5, text, ha="center", va="center", fontsize=9)
    axes[0][0].set_ylabel("time step ↓", fontsize=7)
    fig.suptitle(picture["spec"] + (" + loss terms" if penalties and sites else ""), fontsize=9)
    fig.tight_layout()
    return fig


def mask_alt(picture: dict) -> str:
    parts = []
    for site, rule in picture["rules"].items():
        if picture["sites"].get(site) is not None:
            parts.append(f"{site}: {rule}")
    for p in picture["penalties"]:
        parts.append(f"loss term {p['name']} on {', '.join(p['activations'])}")
    return (f"Mask picture for {picture['spec']} over {picture['steps']} steps and {picture['units']} units of one "
            f"sample: " + ("; ".join(parts) if parts else "no site touched"))


# --- sweeps and speed ---------------------------------------------------------------------------------


def plot_sweep(sweep):
    """Validation metric against the `across` parameter, one line per `down` value, 95 % intervals."""
    plt = pyplot()
    metric = next(iter(sweep.cell.values()))["primary_metric"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    xs = list(range(len(sweep.across_values)))
    for k, down in enumerate(sweep.down_values):
        stats = [sweep.cell[down, a]["metrics"].get(metric_name(metric)) or {} for a in sweep.across_values]
        means = [s.get("mean") for s in stats]
        low = [m - s["ci_low"] if s.get("ci_low") is not None else 0 for m, s in zip(means, stats, strict=True)]
        high = [s["ci_high"] - m if s.get("ci_high") is not None else 0 for m, s in zip(means, stats, strict=True)]
        n = min(sweep.cell[down, a]["n"] for a in sweep.across_values)
        ax.errorbar(xs, means, yerr=[low, high], color=PALETTE[k % 8], marker=MARKERS[k % 8], capsize=3,
                    label=f"{sweep.down}={down} (n={n})")
    ax.set_xticks(xs, [str(a) for a in sweep.across_values])
    ax.set_xlabel(sweep.across)
    ax.set_ylabel(f"validation {METRIC_UNITS.get(metric, metric)}", fontsize=8)
    ax.set_title(f"{sweep.spec} sweep on {sweep.task} (mean, 95 % interval)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def has_budget_curve(row: Row) -> bool:
    """Whether a tuned row has an expected-best curve to draw: trials, drawn by a sampler (not a grid)."""
    budget = row.get("budget") or {}
    return bool(budget.get("curve")) and searched_by_draws(budget.get("sampler"))


def plot_budget(section_rows: list[Row], title: str):
    """Expected best validation metric against the number of trials, every tuned regularizer on one axis,
    with a band of one standard deviation (Dodge et al. 2019): whether a ranking holds at every budget; and,
    where trials record their CPU time, the same curves against CPU time (Dodge et al.'s time axis: n times
    the method's mean trial cost), where a cheap method's curve moves left."""
    plt = pyplot()
    tuned = list({r["regularizer"].split(" (")[0]: r for r in section_rows
                  if has_budget_curve(r)}.values())
    metric = tuned[0]["primary_metric"]
    timed = all((r.get("budget") or {}).get("cpu_seconds") for r in tuned)
    fig, axes = plt.subplots(1, 2 if timed else 1, figsize=(11 if timed else 6, 3.8), sharey=True, squeeze=False)
    for k, row in enumerate(tuned):
        budget = row.get("budget") or {}
        curve = budget["curve"]
        ns = [p["n"] for p in curve]
        means = [p["mean"] for p in curve]
        low = [m - p["sd"] for m, p in zip(means, curve, strict=True)]
        high = [m + p["sd"] for m, p in zip(means, curve, strict=True)]
        searches = budget.get("searches") or 1  # several searches' draws pooled: "2 × 32"
        drawn = f"{searches} × {budget['per_search']}" if searches > 1 else str(budget["trials"])
        label = f"{row['regularizer'].split(' (')[0]} ({drawn})"
        xs = [ns] + ([[n * budget["cpu_seconds"] / 60 for n in ns]] if timed else [])
        for ax, x in zip(axes[0], xs, strict=False):  # eight colours; past them, another line style
            ax.plot(x, means, color=PALETTE[k % 8], marker=MARKERS[k % 8], markersize=3, label=label,
                    linestyle=LINESTYLES[(k // 8) % len(LINESTYLES)])
            ax.fill_between(x, low, high, color=PALETTE[k % 8], alpha=0.12)
    # One bad first draw (a wide space's n = 1) would squash where the curves differ: the axis shows every
    # curve from n = 4 on with its band, and says when earlier points lie above it.
    points = [(p, len(curve)) for curve in (list((r.get("budget") or {}).get("curve") or []) for r in tuned)
              for p in curve]
    settled = [p for p, length in points if p["n"] >= min(4, length)]
    bottom = min(min(p["mean"] for p, _ in points), min(p["mean"] - p["sd"] for p in settled))
    top = max(p["mean"] + p["sd"] for p in settled)
    clipped = top > bottom and any(p["mean"] + p["sd"] > top for p, _ in points)
    if clipped:
        margin = 0.05 * (top - bottom)
        axes[0][0].set_ylim(bottom - margin, top + margin)
    ax = axes[0][0]
    ax.xaxis.get_major_locator().set_params(integer=True)  # trials are counted, not measured
    ax.set_xlabel("trials (n)")
    ax.set_ylabel(f"expected best validation {METRIC_UNITS.get(metric, metric)}", fontsize=8)
    ax.set_title("Expected best after n trials" + (" (axis from n = 4; the first draws lie above)" if clipped else ""),
                 fontsize=9)
    if timed:
        axes[0][1].set_xlabel("CPU minutes (n × the method's mean trial)")
        axes[0][1].set_title("… against compute", fontsize=9)
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_rank_probabilities(section_rows: list[Row]):
    """P(rank 1) and P(top 3) per tuned regularizer, from the board's bootstrap (rnnreg.tuned)."""
    plt = pyplot()
    tuned = list({r["regularizer"].split(" (")[0]: r for r in section_rows
                  if (r.get("selection") or {}).get("rank1") is not None}.values())
    tuned.sort(key=lambda r: -(r["selection"]["rank1"] or 0.0))
    labels = [r["regularizer"].split(" (")[0] for r in tuned]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(tuned) + 1.2))
    ys = range(len(tuned))
    ax.barh([y + 0.2 for y in ys], [r["selection"]["top3"] for r in tuned], height=0.4, color=PALETTE[1],
            label="P(top 3)")
    ax.barh([y - 0.2 for y in ys], [r["selection"]["rank1"] for r in tuned], height=0.4, color=PALETTE[0],
            label="P(rank 1)")
    ax.axvline(0.9, color="#555", linestyle=":", linewidth=1)
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability over the bootstrap (searches, trials, final seeds)", fontsize=8)
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def plot_search_curve(section_rows: list[Row]):
    """A one-dimensional grid search (a strength search) per tuned regularizer: validation against the
    grid's points, seed 0, the chosen point drawn filled."""
    plt = pyplot()
    curved = list({r["regularizer"].split(" (")[0]: r for r in section_rows
                   if (r.get("selection") or {}).get("curve")}.items())
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k, (label, row) in enumerate(curved):
        curve = row["selection"]["curve"]
        known = [(p, v) for p, v in curve["points"] if v is not None]
        color, marker = PALETTE[k % len(PALETTE)], MARKERS[k % len(MARKERS)]
        ax.plot([p for p, _ in known], [v for _, v in known], color=color, marker=marker, markerfacecolor="white",
                linestyle=LINESTYLES[k % len(LINESTYLES)], label=label)
        chosen = [(p, v) for p, v in known if p in curve["chosen"]]
        ax.plot([p for p, _ in chosen], [v for _, v in chosen], color=color, marker=marker, markersize=9,
                linestyle="none")
    dimension = curved[0][1]["selection"]["curve"]["dimension"]
    ax.set_xlabel(f"{dimension} (1: the entry as written)", fontsize=8)
    ax.set_ylabel(f"validation {curved[0][1]['primary_metric']} (seed 0)", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_learned_rates(section_rows: list[Row], runs_of: dict[str, list[dict]]):
    """Each learned dropout rate (Concrete dropout) per epoch: a panel per regularizer that learns rates, a
    line per site.layer, mean over seeds with a min–max band."""
    plt = pyplot()
    learned = [r for r in section_rows if r.get("learned_rates")]
    fig, axes = plt.subplots(1, len(learned), figsize=(5.2 * len(learned), 3.4), squeeze=False)
    for ax, row in zip(axes[0], learned, strict=True):
        runs = runs_of.get(row["regularizer"], [])
        for k, key in enumerate(row["learned_rates"]):
            curves = [[c["learned_p"][key] for c in r.get("curves", []) if key in c.get("learned_p", {})] for r in runs]
            curves = [c for c in curves if c]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            epochs = list(range(1, length + 1))
            columns = [[c[i] for c in curves] for i in range(length)]
            ax.plot(epochs, [statistics.fmean(v) for v in columns], color=PALETTE[k % 8], marker=MARKERS[k % 8],
                    markersize=3, label=key)
            ax.fill_between(epochs, [min(v) for v in columns], [max(v) for v in columns], color=PALETTE[k % 8],
                            alpha=0.12)
        ax.set_title(f"{row['regularizer']} (n {row['n']})", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    axes[0][0].set_ylabel("learned dropout rate p")
    fig.tight_layout()
    return fig


BENCH_KEYS = {"rows", "cell", "shape", "device"}  # what an `rnnreg bench --format json` file holds


def plot_speed(report: dict):
    """Training tokens/s per row, fastest first, with the fused reference and the GEMM limit as lines."""
    plt = pyplot()
    rows = sorted(report["rows"], key=lambda r: r["train_tokens_per_s"])
    fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(rows) + 1.4))
    reference = next(r for r in report["rows"] if r["name"] == "fused-reference")["train_tokens_per_s"]
    ax.barh([r["name"] for r in rows], [r["train_tokens_per_s"] for r in rows], color=PALETTE[0],
            xerr=[[r["train_tokens_per_s"] - r["train_tokens_per_s_min"] for r in rows],
                  [r["train_tokens_per_s_max"] - r["train_tokens_per_s"] for r in rows]], capsize=2)
    ax.axvline(reference, color=PALETTE[1], linestyle="--", label=f"fused reference ({reference:,.0f})")
    ax.axvline(report["gemm_limit_tokens_per_s"], color=PALETTE[6], linestyle=":",
               label=f"GEMM limit ({report['gemm_limit_tokens_per_s']:,.0f})")
    ax.set_xlabel("training tokens per second (median over repeats, bars: min–max)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"{report['cell'].upper()} {report['shape']} shape on {report['device']}", fontsize=9)
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


# --- the site -----------------------------------------------------------------------------------------


# --- what a page places: a figure with its words ---------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A drawn figure and what a page says about it: the stem of its file name, its alt text (what it shows
    and for how many seeds) and its caption (how to read it)."""

    fig: Any
    stem: str
    alt: str
    caption: str
    wide: bool = False  # many panels: a phone scrolls it sideways instead of shrinking it


def section_figures(section_rows: list[Row], runs_of: dict[str, list[dict]], title: str) -> list[Figure]:
    """A section's figures, each where its data exists, with what the page says about it: learning and test
    curves, budget curves, rank probabilities, learned rates."""
    drawn = []
    metric = section_rows[0]["primary_metric"]
    if any(r["n"] for r in section_rows):
        fig, _ = plot_curves(section_rows, runs_of, title)
        seeds = sorted({r["n"] for r in section_rows if r["n"]})
        panels = len([r for r in section_rows if r["n"]])
        alt = (f"Learning curves on {title}: one panel per regularizer ({panels}), validation {metric} (solid) and "
               f"training metric (dashed) per epoch, mean over {', '.join(map(str, seeds))} seed(s) with a "
               "min–max band")
        drawn.append(Figure(fig, "curves", alt, "Learning curves: a solid line that turns upward while the dashed one "
                            "keeps falling is overfitting.", wide=panels > 4))
        test = plot_test_curves(section_rows, runs_of, title)
        if test is not None:
            fig, test_data = test
            alt = (f"Test {metric} per epoch on {title}: one line per regularizer ({len(test_data)}), mean over "
                   f"{', '.join(map(str, seeds))} seed(s) with a min–max band; open markers: the MC-dropout test "
                   "number after the last epoch")
            drawn.append(Figure(fig, "testcurves", alt, "Test curves, as in the paper's sentiment figure: every "
                                "regularizer on one axis, so who overfits, when, and where each ends can be read "
                                "together."))
    if any(has_budget_curve(r) for r in section_rows):
        alt = (f"Budget curves on {title}: expected best validation {metric} after n random-search trials, one "
               "line per tuned regularizer, band one standard deviation; beside it the same against CPU time")
        drawn.append(Figure(plot_budget(section_rows, title), "budget", alt,
                            "Budget curves (Dodge et al. 2019): the best a search of n trials can expect. "
                            "Where lines cross, the ranking depends on the tuning budget."))
    if any((r.get("selection") or {}).get("rank1") is not None for r in section_rows):
        alt = (f"Rank probabilities on {title}: for each tuned regularizer, P(rank 1) and P(top 3) under the "
               "bootstrap over its searches, trials and final seeds; dotted line at 0.9")
        drawn.append(Figure(plot_rank_probabilities(section_rows), "ranks", alt,
                            "How stable the tuned ranking is: only an order whose probability passes the "
                            "dotted 0.9 line is stated as an answer."))
    if any((r.get("selection") or {}).get("curve") for r in section_rows):
        dimension = next(r for r in section_rows if (r.get("selection") or {}).get("curve"))["selection"]["curve"][
            "dimension"]
        alt = (f"The {dimension} search on {title}: validation {metric} at each grid point, one line per tuned "
               "regularizer, seed 0; a filled marker at the point chosen")
        drawn.append(Figure(plot_search_curve(section_rows), "searchcurve", alt,
                            f"Each method at its own {dimension}: where its curve bottoms out is what it was "
                            "tuned to; a minimum at the grid's edge asks for a wider grid."))
    if any(r.get("learned_rates") for r in section_rows):
        keys = sorted({k for r in section_rows for k in r.get("learned_rates") or {}})
        alt = (f"Learned dropout rates per epoch on {title}: one panel per regularizer that learns its rates, a "
               f"line per site and layer ({', '.join(keys)}), mean over seeds with a min–max band")
        drawn.append(Figure(plot_learned_rates(section_rows, runs_of), "rates", alt,
                            "Learned dropout rates (Concrete dropout): where training moves each site's p "
                            "from its starting value."))
    return drawn


def sweep_figure(sweep) -> Figure:
    alt = (f"Sweep of {sweep.spec} on {sweep.task}: validation metric against {sweep.across}, one line per "
           f"{sweep.down} value, error bars the 95 % interval over seeds")
    return Figure(plot_sweep(sweep), "sweep", alt, alt)


def mask_figure(picture: dict, label: str) -> Figure:
    """What one regularizer does to a sequence (rnnreg.explain's picture), drawn."""
    return Figure(plot_masks(picture), "masks", mask_alt(picture), label)
