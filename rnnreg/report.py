"""`rnnreg report`: the leaderboard as a static site with the paper's pictures.

One `index.html` plus PNG files, no script and nothing fetched at view time, so it opens from the file
system. Per section of the board (a task at one setting):
    the table        the same rows and cells as `rnnreg leaderboard` (`rendering.table_cells`);
    learning curves  validation metric and training metric per epoch for each regularizer, the mean over
                     seeds with a min–max band, small multiples on shared axes, the oracle floor or the
                     published reference as a line — overfitting shows as a rising solid line;
    test curves      where the runs recorded the test split every epoch (`evaluation.curve_test`, as Gal's
                     sentiment scripts do), every regularizer's test curve on one axis: the paper's figure;
    mask pictures    what each regularizer on the board does to one sequence, drawn from `rnnreg explain`'s
                     own sampling (the paper's Figure 1);
and, where the data exists, a tuned section's selection and budget tables, rank probabilities and budget
curves (against trials and CPU time), sweeps (metric against the swept parameter, with 95 % intervals), speed
(tokens/s per regularizer against the fused reference and the GEMM limit, from `benchmarks/speed/*.json`)
and the suites' claims with their outcomes. The page opens with the generated answer (rnnreg.answer).

The figures are rnnreg/figures.py (matplotlib, an optional extra: the core does not need it); this module
places them: every image has alt text that says what it shows and for how many seeds.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

from rnnreg.errors import RnnregError
from rnnreg.explain import explain_result
from rnnreg.figures import BENCH_KEYS, Figure, mask_figure, plot_speed, pyplot, section_figures, sweep_figure
from rnnreg.leaderboard import Row, build_rows, use_current_references
from rnnreg.rendering import summary_lines, sweeps, task_sections, tuned_grids
from rnnreg.storage import slug as results_slug


def make_folder(folder: Path) -> None:
    """Create an output folder, or say in one line which path cannot be made and why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnnregError(f"cannot create folder {str(folder)!r}: {exc.strerror or exc}") from None


def slug(text: str, limit: int | None = 80) -> str:
    """An anchor or file stem: storage.slug (the one rule for names in paths), lower case, cut at `limit`."""
    return results_slug(text.lower().replace(".", "-").replace("+", "-"))[:limit]


def unique_slugs(titles: list[str], limit: int = 80) -> list[str]:
    """One anchor (and figure-name stem) per title, never shared: a title whose slug is too long, or equals
    another's (two sections that differ only in punctuation or after the cut), gains a hash of its full text."""
    full = [slug(title, limit=None) for title in titles]
    return [name if len(name) <= limit and full.count(name) == 1
            else f"{name[:limit - 9]}-{hashlib.sha256(title.encode()).hexdigest()[:8]}"
            for title, name in zip(titles, full, strict=True)]


PROSE = 40  # a cell longer than this is a sentence (an edge flag, a claim's numbers): it wraps


NAMES = ("regularizer", "claim")  # the column that names a row: left-aligned, wrapping


def html_table(names: list[str], cells: list[list[str]], caption: str) -> str:
    def kind(i: int, text: str) -> str:
        which = "name" if names[i] in NAMES else "prose" if len(text) > PROSE else ""
        return f" class={which}" if which else ""

    head = "".join(f"<th scope='col'{kind(i, '')}>{html.escape(n)}</th>" for i, n in enumerate(names))
    body = "".join("<tr>" + "".join(f"<td{kind(i, c)}>{html.escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in cells)
    # The caption sits outside the sideways-scrolling box: inside a wide table it would be as wide as the
    # table, and a phone would have to scroll to read the sentence that explains it.
    return (f"<figure class='table'><figcaption>{html.escape(caption)}</figcaption><div class='scroll'><table>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></figure>")


def figure_html(src: str, alt: str, caption: str, wide: bool = False) -> str:
    return (f"<figure{' class=wide' if wide else ''}><img src='{html.escape(src)}' alt='{html.escape(alt)}' "
            "loading='eager'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem; color: #111;
       line-height: 1.4; }
h2, li, p { overflow-wrap: anywhere; }  /* labels like ablation[embedding.p=0.0,...] must wrap on a phone */
.table .scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.3rem 0 1rem; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.5rem; text-align: right; white-space: nowrap; }
td.name, th.name { text-align: left; }
/* the name column wraps (a published reference's long name must not push every number off the screen) */
td.name { white-space: normal; min-width: 10em; max-width: 16em; overflow-wrap: anywhere; }
td.prose { white-space: normal; min-width: 14em; max-width: 24em; text-align: left; }
/* many-panel figures keep a readable size on a phone and scroll sideways instead of shrinking */
@media (max-width: 700px) { figure.wide { overflow-x: auto; } figure.wide img { max-width: none; width: 900px; } }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
.masks { display: flex; flex-wrap: wrap; gap: 0.5rem; } .masks figure { width: 30%; min-width: 260px; margin: 0; }
figcaption { font-size: 0.8rem; color: #333; overflow-wrap: anywhere; }
"""


class Images:
    """The site's images folder: a figure saved there under a name, closed, and its relative path returned."""

    def __init__(self, out_dir: Path):
        self.folder = out_dir / "images"
        make_folder(self.folder)
        self.plt = pyplot()

    def save(self, fig, name: str) -> str:
        fig.savefig(self.folder / name, dpi=90)
        self.plt.close(fig)
        return f"images/{name}"

    def place(self, figure: Figure, name: str) -> str:
        """The figure saved as `name`, in its place on the page with its alt text and caption."""
        return figure_html(self.save(figure.fig, name), figure.alt, figure.caption, figure.wide)


def write_report(results_dir: Path, results: list[dict], left_out: int, out_dir: Path, plugins, *,
                 speed_dir: Path | None = None, claims: list[dict] | None = None,
                 progress=lambda message: None) -> Path:
    """Build the site in `out_dir` from the valid results read from `results_dir` (`left_out` files failed
    validation); returns the index path. The page, top to bottom: the opening (the answer and the summary),
    the contents, a section per board section, speed, claims."""
    if not results:
        raise RnnregError(f"no readable result files in {str(results_dir)!r}")
    use_current_references(results, plugins.tasks)
    rows = build_rows(results)
    images = Images(out_dir)
    tables = task_sections(rows)
    # Everything the sections show beside their table, computed once and handed to each section.
    grids = tuned_grids(rows)
    section_sweeps = list(sweeps(rows))
    anchors = unique_slugs([table.title for table in tables])
    toc = [f"<li><a href='#{anchor}'>{html.escape(table.title)}</a></li>" for table, anchor in zip(tables, anchors,
                                                                                                     strict=True)]
    sections = []
    by_path = {r["_path"]: r for r in results}
    masks_drawn: dict[tuple, tuple[str | None, str]] = {}  # (params, cell) → (image, alt text or why none)
    for table, anchor in zip(tables, anchors, strict=True):
        progress(f"section {table.title}")
        mine = (table.task, table.name)
        sections.append(section_html(table, anchor, rows, [g for g in grids if g[:2] == mine],
                                     [s for s in section_sweeps if (s.task, s.section) == mine],
                                     by_path, images, plugins, masks_drawn))
    speed, speed_toc = speed_html(speed_dir, images)
    claims_part = claims_html(claims or [])
    toc += speed_toc + (["<li><a href='#claims'>claims</a></li>"] if claims else [])
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'><title>rnnreg report</title>"
            f"<style>{STYLE}</style></head><body>"
            + opening_html(results_dir, len(results), left_out, rows, claims or [], dict(zip(
                (table.title for table in tables), anchors, strict=True)))
            + "<nav><ul>" + "".join(toc) + "</ul></nav>" + "".join(sections) + speed + claims_part + "</body></html>")
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def opening_html(results_dir: Path, files: int, left_out: int, rows: list[Row], claims: list[dict],
                 anchor_of: dict[str, str]) -> str:
    """What the page says first: where the numbers come from, the generated answer, the summary."""
    from rnnreg.answer import answer_lines, as_html

    text = (f"<h1>rnnreg report</h1><p>{files} result files from <code>{html.escape(str(results_dir))}</code>"
            + (f"; {left_out} failed validation, left out" if left_out else "") + ". Numbers as in "
            "<code>rnnreg leaderboard</code>: mean over seeds, ± the 95 % t-interval; <em>≈</em> beside a rank "
            "marks rows not separated from the best by a paired t-test (p ≥ 0.05; not a tie).</p>")
    answer = answer_lines(rows, claims, anchor_of=lambda title: anchor_of.get(title, slug(title)))
    if answer:  # the answer first, as on the board and in the README
        text += ("<section id='answer'><h2>Which regularizer should my LSTM use?</h2><p>What these results can "
                 "answer so far, each with a link to its evidence (generated from them).</p><ul>"
                 + "".join(as_html(line) for line in answer) + "</ul></section>")
    summary = summary_lines(rows)
    if summary:
        items = "".join("<li>" + re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(line[2:])) + "</li>"
                        for line in summary)
        text += ("<section id='summary'><h2>Summary</h2><p>Per section with at least 3 seeds: the best "
                 "regularizer by validation, the rows a paired t-test cannot separate from it, and its test "
                 f"difference from <code>none</code> with its paired 95 % interval.</p><ul>{items}</ul></section>")
    return text


def section_html(table, anchor: str, rows: list[Row], grids: list[tuple], section_sweeps: list,
                 by_path: dict[str, dict], images: Images, plugins, masks_drawn: dict) -> str:
    """One board section: its table and tuned tables (`grids`), then its figures, mask pictures and sweeps."""
    task, section, title = table.task, table.name, table.title
    section_rows = [r for r in rows if r["task"] == task and r["section"] == section]
    body = [f"<section id='{anchor}'><h2>{html.escape(title)}</h2>", html_table(table.header, table.cells,
                                                                               table.caption)]
    for _, _, grid_caption, grid_header, grid in grids:
        body.append(html_table(grid_header, grid, grid_caption))
    runs_of = {r["regularizer"]: [by_path[p] for p in r["files"] if p in by_path and by_path[p]["status"] == "ok"]
               for r in section_rows}
    body += [images.place(figure, f"{figure.stem}-{anchor}.png") for figure in section_figures(section_rows, runs_of,
                                                                                                  title)]
    body.append("<h3>What each regularizer does (one sequence, first layer)</h3><div class='masks'>")
    for row in section_rows:
        body.append(mask_picture(row, runs_of, by_path, images, plugins, masks_drawn))
    body.append("</div>")
    for sweep in section_sweeps:
        body.append("<h3>Sweep</h3>" + images.place(sweep_figure(sweep), f"sweep-{anchor}-{slug(sweep.spec)}.png"))
    return "".join(body) + "</section>"


def mask_picture(row: Row, runs_of: dict, by_path: dict[str, dict], images: Images, plugins,
                 masks_drawn: dict) -> str:
    """What one row's regularizer does to a sequence (drawn once per configuration and cell)."""
    runs = runs_of.get(row["regularizer"]) or [by_path[p] for p in row["files"] if p in by_path]
    if not runs:
        return ""
    key = json.dumps(runs[0]["regularizer"].get("params"), sort_keys=True) + runs[0]["regularizer"]["spec"]
    cell = runs[0].get("config", {}).get("model", {}).get("cell", "lstm")
    if (key, cell) not in masks_drawn:
        try:
            picture = explain_result(runs[0], plugins.regularizers, steps=8, units=16,
                                     tokens="the dog and the cat".split(), cell=cell)
        except RnnregError as exc:  # a plugin not installed here: say so instead of a picture
            masks_drawn[key, cell] = (None, str(exc))
        else:
            figure = mask_figure(picture, row["regularizer"])
            name = f"{figure.stem}-{slug(row['regularizer'])}-{len(masks_drawn)}.png"
            masks_drawn[key, cell] = (images.save(figure.fig, name), figure.alt)
    src, alt = masks_drawn[key, cell]
    if src is None:
        return f"<p>{html.escape(row['regularizer'])}: no picture ({html.escape(alt)})</p>"
    return figure_html(src, alt, row["regularizer"])


def speed_html(speed_dir: Path | None, images: Images) -> tuple[str, list[str]]:
    """The speed section from `rnnreg bench` files (another measurement kept beside them, reading-scale.json,
    is named instead of drawn), and its contents entry."""
    speed_files = sorted(Path(speed_dir).glob("*.json")) if speed_dir and Path(speed_dir).is_dir() else []
    if not speed_files:
        return "", []
    benches = {path: json.loads(path.read_text()) for path in speed_files}
    others = [path.name for path, report in benches.items() if not BENCH_KEYS <= set(report)]
    body = ["<section id='speed'><h2>Speed</h2>"]
    if others:
        body.append(f"<p>Also measured, not drawn here: {html.escape(', '.join(others))} (see the speed "
                    "folder's README).</p>")
    for path, report in benches.items():
        if path.name in others:
            continue
        alt = (f"Training tokens per second for {len(report['rows'])} rows ({report['cell']} {report['shape']} "
               f"shape, {report['device']}), with the fused reference and the GEMM limit as vertical lines")
        body.append(figure_html(images.save(plot_speed(report), f"speed-{slug(path.stem)}.png"), alt, path.name))
    return "".join(body) + "</section>", ["<li><a href='#speed'>speed</a></li>"]


def claims_html(claims: list[dict]) -> str:
    if not claims:
        return ""
    from rnnreg.claimtable import CLAIM_COLUMNS, claim_cells

    return ("<section id='claims'><h2>Claims</h2>"
            + html_table(list(CLAIM_COLUMNS), [claim_cells(c) for c in claims],
                         "What each suite claims about its results, tested on them (rnnreg claims).")
            + "</section>")
