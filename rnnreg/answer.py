"""The answer first: "which regularizer should my LSTM use?" in a few plain sentences, generated from the
parts of a board that can answer it, each linking to its evidence — the board, the report and the README
open with it (the README's copy sits between markers that `rnnreg leaderboard --write/--check --readme`
keeps in step with the results).

    tuned fairly      a tuned section whose ranking was bootstrapped: the groups that hold with
                      probability ≥ 0.9 (rnnreg.tuned), undecided inside each; after a strength
                      search, each method's number at the strength chosen for it;
    default rates     per suite, its paired comparisons that hold or are contradicted (rnnreg.claims);
    real text         the best row of each multi-seed board of a real dataset and what is not separated
                      from it.

Nothing here is written by hand: a sentence appears when its evidence exists, and says only what it shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rnnreg.metrics import metric_name

REAL_TASKS = ("ptb", "wikitext-2", "sentiment-scale", "sentiment-polarity")
START, END = "<!-- rnnreg:answer -->", "<!-- /rnnreg:answer -->"


def anchor(title: str) -> str:
    """The anchor GitHub (and rnnreg's report) gives a markdown heading: lower case, punctuation dropped,
    spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def answer_lines(rows: Sequence[Any], claim_rows: list[dict], link: str = "",
                 anchor_of: Callable[[str], str] = anchor) -> list[str]:
    """Markdown bullets; `link` is what goes before `#anchor` (the board's path, from a README), `anchor_of`
    how the page names a section's anchor from its title (the report has its own)."""
    return (tuned_lines(rows, link, anchor_of) + default_rate_lines(claim_rows, link)
            + real_text_lines(rows, link, anchor_of))


def tuned_lines(rows: Sequence[Any], link: str, anchor_of: Callable[[str], str] = anchor) -> list[str]:
    lines = []
    seen = set()
    for row in rows:
        selection = row.get("selection")
        key = (row["task"], row["section"])
        if not selection or key in seen or selection.get("rank1") is None:
            continue
        seen.add(key)
        tuned = [r for r in rows if (r["task"], r["section"]) == key and r.get("selection")]
        groups = selection.get("groups") or []
        title = f"{row['task']} · {row['section']}"
        where = f"[{row['task']}, {row['section'].split(' · ')[0]}]({link}#{anchor_of(title)})"
        own = own_point(tuned)
        leader = max(tuned, key=lambda r: r["selection"]["rank1"] or 0.0)
        likely = f"the most likely first is {leader['regularizer'].split(' (')[0]} " \
                 f"(P(rank 1) {leader['selection']['rank1']:.2f})"
        # ranked among the methods with all their finals only: say which are not
        pending = f"; not yet ranked, finals pending: {', '.join(selection['finals_pending'])}" \
            if selection.get("finals_pending") else ""
        if len(groups) > 1:
            said = " ahead of ".join("{" + ", ".join(group) + "}" for group in groups)
            inside = f"; {likely}" if len(groups[0]) > 1 else ""
            lines.append(f"- **Tuned fairly** ({where}): {own}{said}, each with probability ≥ 0.9 under the bootstrap "
                         f"over {searches_said(tuned)}, trials and final seeds; inside each group the order is "
                         f"undecided{inside}{pending}.")
        elif groups:
            lines.append(f"- **Tuned fairly** ({where}): {own}no order holds with probability ≥ 0.9; "
                         f"{likely}{pending}.")
    return lines


def searches_said(tuned: Sequence[Any]) -> str:
    """"1 search per method", "2 searches per method (1 for ar-tar, none)": how much search variation the
    bootstrap saw, naming the methods it saw less of (a search still running has no tuned outcome yet)."""
    counts = {r["regularizer"].split(" (")[0]:
              sum(1 for s in r["selection"].get("searches") or [] if s.get("outcome") is not None) for r in tuned}
    most = max(counts.values(), default=0)
    if not most:
        return "searches"
    said = f"{most} search{'' if most == 1 else 'es'} per method"
    fewer: dict[int, list[str]] = {}
    for label, count in counts.items():
        if 0 < count < most:  # none: still pending, which the board says
            fewer.setdefault(count, []).append(label)
    if fewer:
        said += " (" + "; ".join(f"{n} for {', '.join(fewer[n])}" for n in sorted(fewer, reverse=True)) + ")"
    return said


def valid_mean(row: Any) -> str:
    """A row's mean validation number as the answer prints it: perplexity to 2 decimals, errors to 3."""
    digits = 2 if row["primary_metric"] == "perplexity" else 3
    return f"{row['metrics'][metric_name(row['primary_metric'])]['mean']:.{digits}f}"


def own_point(tuned: Sequence[Any]) -> str:
    """For a one-dimensional grid search (a strength search): each method's final mean at the point chosen
    for it, so the answer says at which strength each was compared; empty for any other search."""
    if not all((r["selection"].get("curve") or {}).get("chosen") for r in tuned):
        return ""
    first = tuned[0]
    dimension = first["selection"]["curve"]["dimension"]
    said = ", ".join(f"{r['regularizer'].split(' (')[0]} {valid_mean(r)} "
                     f"({dimension} {r['selection']['curve']['chosen'][0]:g})"
                     for r in sorted(tuned, key=lambda r: r["rank"]))
    seeds = "–".join(map(str, sorted({r["n"] for r in tuned})))
    return (f"each at the {dimension} chosen for it on validation, valid {first['primary_metric']} {said} "
            f"(n {seeds} fresh seeds); ")


def default_rate_lines(claim_rows: list[dict], link: str) -> list[str]:
    lines = []
    suites: dict[str, list[dict]] = {}
    for row in claim_rows:
        if row.get("kind") == "compare" and row["status"] in ("holds", "contradicted"):
            suites.setdefault(row["suite"], []).append(row)
    for suite, decided in suites.items():
        shown = decided[:4]
        said = "; ".join(f"`{c['claim'].split(' on ')[0]}` {c['status']}" for c in shown)
        more = f"; {len(decided) - len(shown)} more" if len(decided) > len(shown) else ""
        tuned = ""
        if decided[0].get("tuning_group"):  # a tuned suite: whose finals, and how far to trust their choice
            tuned = f" (tuned rows of {decided[0]['tuning_group']}" + (
                ", an early study: each row's seed 0 is the trial that chose it, which flatters the winners)"
                if decided[0].get("selecting_seed_in_finals") else ")")
        lines.append(f"- **{suite}**{tuned}, paired over seeds, Holm-corrected ([claims]({link}#claims)): "
                     f"{said}{more}.")
    return lines


def real_text_lines(rows: Sequence[Any], link: str, anchor_of: Callable[[str], str] = anchor,
                    min_seeds: int = 3) -> list[str]:
    """Per board of a real dataset with rows of at least `min_seeds` seeds: those rows in order, with n."""
    lines = []
    for task in REAL_TASKS:
        ranked = [r for r in rows if r["task"] == task and "rank" in r and not r.get("selection")]
        for section in dict.fromkeys(r["section"] for r in ranked):
            mine = sorted((r for r in ranked if r["section"] == section and r["n"] >= min_seeds),
                          key=lambda r: r["rank"])
            if len(mine) < 2:
                continue
            order = ", ".join(f"{r['regularizer']} {valid_mean(r)}" for r in mine)
            seeds = sorted({r["n"] for r in mine})
            title = f"{task} · {section}"
            lines.append(f"- **Real text** ([{task}, {section.split(' · ')[0]}]({link}#{anchor_of(title)})): valid "
                         f"{mine[0]['primary_metric']} {order} (n {'–'.join(map(str, seeds))}; rows with fewer "
                         "seeds are on the board, the claims say which gaps are real).")
    return lines


def with_answer(readme: str, lines: list[str]) -> str:
    """The README with its generated block replaced by `lines` (an error when the markers are missing)."""
    from rnnreg.errors import RnnregError

    if START not in readme or END not in readme:
        raise RnnregError(f"the README has no {START} … {END} block for the generated answer")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + START + "\n" + "\n".join(lines) + "\n" + END + tail


def as_html(line: str) -> str:
    """One answer bullet (markdown: **bold**, `code`, [text](#anchor)) as the report's HTML list item."""
    import html

    text = html.escape(line.removeprefix("- "), quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    text = re.sub(r"\[(.+?)\]\((#[^)]*)\)", r"<a href='\2'>\1</a>", text)
    return f"<li>{text}</li>"
