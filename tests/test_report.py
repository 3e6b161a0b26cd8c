"""`rnnreg report` and `rnnreg plot`: the figures plot the result files' numbers, the site's tables are the
leaderboard's, and in a real browser every image loads and shows something."""

import json
import re
import shutil
import statistics
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnreg.cli import cli
from rnnreg.identity import config_hash
from rnnreg.results import read_results

pytest.importorskip("matplotlib", reason='the report needs matplotlib: pip install -e ".[report]"')

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "results" / "quick"
CHOSEN = ("none", "variational", "zoneout", "ar-tar")


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """A few committed results (2 seeds of four regularizers on synthetic-lm, one sentiment run) and a
    speed file, in a results/ folder beside speed/ as in benchmarks/."""
    base = tmp_path_factory.mktemp("bench")
    for label in CHOSEN:
        for seed in (0, 1):
            [path] = (COMMITTED / "synthetic-lm").glob(f"{label}__seed{seed}__*.json")
            (base / "results" / "synthetic-lm").mkdir(parents=True, exist_ok=True)
            shutil.copy(path, base / "results" / "synthetic-lm" / path.name)
    for path in (COMMITTED / "synthetic-lm").glob("ablation-*__seed[01]__*.json"):  # a p_U x p_E sweep
        shutil.copy(path, base / "results" / "synthetic-lm" / path.name)
    [sentiment] = (COMMITTED / "synthetic-sentiment").glob("variational__seed0__*.json")
    (base / "results" / "synthetic-sentiment").mkdir()
    shutil.copy(sentiment, base / "results" / "synthetic-sentiment" / sentiment.name)
    (base / "speed").mkdir()
    shutil.copy(ROOT / "benchmarks" / "speed" / "cpu-medium.json", base / "speed" / "cpu-medium.json")
    # another measurement kept beside the bench files: named on the page, not drawn as one
    shutil.copy(ROOT / "benchmarks" / "speed" / "reading-scale.json", base / "speed" / "reading-scale.json")
    return base / "results"


@pytest.fixture(scope="module")
def site(results_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = CliRunner().invoke(cli, ["report", str(results_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


class Page(HTMLParser):
    """The images (src, alt) and the tables (rows of cell texts) of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.tables, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append((attrs.get("src"), attrs.get("alt")))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def test_the_curves_plot_the_result_files_numbers(results_dir):
    from rnnreg.figures import plot_curves, pyplot
    from rnnreg.leaderboard import build_rows

    results, _ = read_results(results_dir)
    rows = [r for r in build_rows(results) if r["task"] == "synthetic-lm"]
    by_path = {r["_path"]: r for r in results}
    runs_of = {r["regularizer"]: [by_path[p] for p in r["files"]] for r in rows}
    fig, _ = plot_curves(rows, runs_of, "synthetic-lm")
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    for label in CHOSEN:
        ax = panels[f"{label} (n=2)"]
        runs = runs_of[label]
        valid_line, train_line = ax.lines[0], ax.lines[1]
        expected_valid = [statistics.fmean(r["curves"][e]["valid_perplexity"] for r in runs) for e in range(22)]
        expected_train = [statistics.fmean(r["curves"][e]["train_perplexity_dropout"] for r in runs) for e in range(22)]
        assert list(valid_line.get_xdata()) == list(range(1, 23))
        assert list(valid_line.get_ydata()) == pytest.approx(expected_valid)
        assert list(train_line.get_ydata()) == pytest.approx(expected_train)
        floor = [line for line in ax.lines if line.get_linestyle() == ":"]
        assert floor and floor[0].get_ydata()[0] == pytest.approx(runs[0]["oracle"]["valid"]["perplexity"])
    pyplot().close(fig)


def test_the_site_has_every_section_figure_and_alt_text(site):
    page = parse((site / "index.html").read_text())
    sources = [src for src, _ in page.images]
    assert sum(s.startswith("images/curves-") for s in sources) == 2  # one per task on the board
    assert sum(s.startswith("images/speed-") for s in sources) == 1
    assert "Also measured, not drawn here: reading-scale.json" in (site / "index.html").read_text()
    assert sum(s.startswith("images/sweep-") for s in sources) == 1
    masks = [s for s in sources if s.startswith("images/masks-")]
    assert len(masks) == len(CHOSEN) + 4 + 1  # every row on the board: 4 + the sweep's 4 + sentiment's own
    for src, alt in page.images:
        assert alt and len(alt) > 20, src
        assert (site / src).stat().st_size > 1000, src
    assert "http" not in (site / "index.html").read_text().replace("http-equiv", "")  # nothing fetched


def test_the_tables_equal_the_leaderboard(site, results_dir):
    board = json.loads(CliRunner().invoke(cli, ["leaderboard", str(results_dir), "--format", "json"]).stdout)
    sections: dict[tuple, list[dict]] = {}
    for row in board:
        sections.setdefault((row["task"], row["section"]), []).append(row)
    page = parse((site / "index.html").read_text())
    tables = [t for t in page.tables if t and "regularizer" in t[0]]
    assert len(tables) == len(sections)
    for table, rows in zip(tables, sections.values(), strict=True):
        shown = {cells[1]: cells for cells in table[1:]}
        for row in rows:
            cells, metric = shown[row["regularizer"]], row["primary_metric"]
            digits = 2 if metric == "perplexity" else 4
            assert cells[2] == str(row["n"])
            for column, key in ((3, f"valid_{metric}"), (4, f"test_{metric}")):
                value = float(re.match(r"[-\d.]+", cells[column]).group())
                assert value == round(row["metrics"][key]["mean"], digits), (row["regularizer"], key)


def test_plot_curves_writes_one_figure_and_names_bad_tasks(results_dir, tmp_path):
    out = tmp_path / "curves.png"
    result = CliRunner().invoke(cli, ["plot", "curves", str(results_dir), "-t", "synthetic-lm", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(cli, ["plot", "curves", str(results_dir), "-t", "ptb", "-o", str(out)])
    assert bad.exit_code == 1 and "no results for task 'ptb'" in bad.output and "Traceback" not in bad.output


def test_plot_curves_takes_a_part_of_a_section_name_that_names_one_section(results_dir, tmp_path):
    folder = tmp_path / "results" / "synthetic-lm"
    folder.mkdir(parents=True)
    [path] = (results_dir / "synthetic-lm").glob("none__seed0__*.json")
    shutil.copy(path, folder / path.name)
    short = json.loads(path.read_text())
    short["config"]["train"]["epochs"] = 3  # the same job cut short: a second section of the task
    short["config_hash"] = config_hash(short["config"])
    (folder / "none__seed0__short.json").write_text(json.dumps(short))
    out = tmp_path / "curves.png"

    def plot(*section):
        return CliRunner().invoke(cli, ["plot", "curves", str(tmp_path / "results"), "-t", "synthetic-lm", *section,
                                        "-o", str(out)])

    assert plot("--section", "3 epochs").exit_code == 0
    for section, message in [([], "has 2 settings; choose one with --section"),
                             (["--section", "epochs"], "--section 'epochs' matches several of"),
                             (["--section", "GRU"], "--section 'GRU' matches none of")]:
        result = plot(*section)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


SENTIMENT_250 = ROOT / "benchmarks" / "results" / "sentiment-scale-lstm"  # Gal's script: test split every epoch


def test_the_test_curves_plot_each_regularizers_test_split_per_epoch_and_its_mc_number():
    from rnnreg.figures import plot_test_curves, pyplot
    from rnnreg.leaderboard import build_rows

    results, _ = read_results(SENTIMENT_250)
    rows = build_rows(results)
    by_path = {r["_path"]: r for r in results}

    def section(name):  # its rows, and each row's runs
        chosen = [r for r in rows if name in r["section"]]
        return chosen, {r["regularizer"]: [by_path[p] for p in r["files"]] for r in chosen}

    full, runs_of = section("250 epochs")
    fig, data = plot_test_curves(full, runs_of, "sentiment-scale")
    [ax] = fig.axes
    lines = {line.get_label(): line for line in ax.lines}
    mc_markers = [line for line in ax.lines if line.get_markerfacecolor() == "none" and len(line.get_xdata())]
    assert len(data) == 4 and len(mc_markers) == sum("test_rmse_mc" in runs_of[r["regularizer"]][0]["metrics"]
                                                      for r in full)
    for row in full:
        [run] = runs_of[row["regularizer"]]
        line = lines[f"{row['regularizer']} (n=1)"]
        assert list(line.get_xdata()) == list(range(1, 251))
        assert list(line.get_ydata()) == pytest.approx([c["test_rmse"] for c in run["curves"]])
        if "test_rmse_mc" in run["metrics"]:
            assert any(m.get_color() == line.get_color() and m.get_xdata()[0] == 250
                       and m.get_ydata()[0] == pytest.approx(run["metrics"]["test_rmse_mc"]["value"])
                       for m in mc_markers), row["regularizer"]
    pyplot().close(fig)
    # runs without evaluation.curve_test have no test curve to draw
    assert plot_test_curves(*section("LSTM, 20 epochs"), "sentiment-scale") is None


def test_plot_curves_test_draws_the_test_curves_or_says_why_not(results_dir, tmp_path):
    out = tmp_path / "test-curves.png"
    drawn = CliRunner().invoke(cli, ["plot", "curves", str(SENTIMENT_250), "-t", "sentiment-scale", "--section",
                                     "LSTM, 250 epochs", "--test", "-o", str(out)])
    assert drawn.exit_code == 0, drawn.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    none = CliRunner().invoke(cli, ["plot", "curves", str(results_dir), "-t", "synthetic-lm", "--test", "-o", str(out)])
    assert none.exit_code == 1 and "recorded the test split per epoch" in none.output
    assert "evaluation.curve_test" in none.output and "Traceback" not in none.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


BROWSER = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--hide-scrollbars"]


def seen_in_a_browser(site: Path, width: int, height: int, measure: str):
    """What the expression `measure` (JavaScript over the report's document `d`) gives once Chromium has
    loaded the report at `width` px: a test page beside it opens the report in a frame, writes the JSON of
    the measure into the page, and Chromium prints the resulting DOM."""
    probe = site / "_probe.html"
    probe.write_text(
        f"<html><body><iframe id='f' src='index.html' width='{width}' height='{height}'></iframe><pre id='out'></pre>"
        "<script>document.getElementById('f').onload = () => { const d = document.getElementById('f')"
        f".contentDocument; document.getElementById('out').textContent = JSON.stringify({measure}) }};"
        "</script></body></html>")
    dom = subprocess.run([CHROMIUM, *BROWSER, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=180)
    probe.unlink()
    found = re.search(r"<pre id=\"out\">(.*?)</pre>", dom.stdout, re.S)
    assert found and found.group(1), dom.stderr[-2000:]
    return json.loads(found.group(1).replace("&amp;", "&").replace("&quot;", '"'))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (Debian: apt-get install -y chromium; .ci/run installs it)")
def test_in_a_browser_every_image_loads_and_is_not_blank(site, tmp_path):
    from matplotlib import image

    # for every image, whether the browser decoded it (complete, with a width)
    images = seen_in_a_browser(site, 1280, 3000, "[...d.images].map(i => ({src: i.getAttribute('src'), "
                                                 "loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth}))")
    assert images and all(i["loaded"] and i["width"] > 100 for i in images), images

    shot = tmp_path / "screenshot.png"
    subprocess.run([CHROMIUM, *BROWSER, "--window-size=1280,2000", f"--screenshot={shot}",
                    (site / "index.html").as_uri()], capture_output=True, timeout=180)
    pixels = image.imread(shot)
    assert pixels.std() > 0.05  # the page shows tables and figures, not a blank
    for src in {i["src"] for i in images}:
        assert image.imread(site / src)[..., :3].std() > 0.02, src  # each figure has drawn content


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (Debian: apt-get install -y chromium; .ci/run installs it)")
def test_on_a_phone_the_page_does_not_scroll_sideways_and_captions_and_cell_sentences_wrap(site):
    # Wide tables scroll inside their own box; the sentence that explains a table must not scroll with it.
    seen = seen_in_a_browser(site, 390, 800, (
        "{width: d.documentElement.clientWidth, page: d.documentElement.scrollWidth, "
        "tables: d.querySelectorAll('table').length, "
        "widest: Math.max(...[...d.querySelectorAll('td')].map(c => c.getBoundingClientRect().width)), "
        "captions: [...d.querySelectorAll('table > caption, figure.table > figcaption')]"
        ".map(c => Math.ceil(c.getBoundingClientRect().right))}"))
    assert seen["page"] <= seen["width"]  # nothing pushes the page itself wider than the phone
    assert len(seen["captions"]) == seen["tables"] > 0  # every table has its caption, outside the scroll box
    assert max(seen["captions"]) <= seen["width"]
    assert seen["widest"] <= 360  # a sentence in a cell (an edge flag, a claim's numbers) wraps at 24em


def test_the_sweep_plots_each_cells_mean(results_dir):
    from rnnreg.figures import plot_sweep, pyplot
    from rnnreg.leaderboard import build_rows
    from rnnreg.rendering import sweeps

    results, _ = read_results(results_dir)
    [sweep] = list(sweeps(build_rows(results)))
    fig = plot_sweep(sweep)
    from rnnreg.figures import MARKERS

    lines = [line for line in fig.axes[0].lines if line.get_marker() in MARKERS]  # not the error bars' caps
    assert len(lines) == len(sweep.down_values)
    for line, down in zip(lines, sweep.down_values, strict=True):
        expected = [sweep.cell[down, a]["metrics"]["valid_perplexity"]["mean"] for a in sweep.across_values]
        assert list(line.get_ydata()) == pytest.approx(expected)
    pyplot().close(fig)


def test_two_sections_that_differ_only_after_the_cut_get_their_own_anchors_and_figures(results_dir, tmp_path):
    """Section anchors and figure names come from titles cut to 80 characters: two titles that differ only
    after the cut once shared one anchor, and one section's table showed the other's curves."""
    folder = tmp_path / "results" / "synthetic-lm"
    folder.mkdir(parents=True)
    [path] = (results_dir / "synthetic-lm").glob("none__seed0__*.json")
    for ending in ("a", "b"):
        twin = json.loads(path.read_text())
        twin["config"]["train"]["schedule_note"] = "x" * 90 + ending
        twin["config_hash"] = config_hash(twin["config"])
        (folder / f"none__seed0__{ending}.json").write_text(json.dumps(twin))
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "results"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    ids = re.findall(r"<section id='([^']+)'>", page)
    curves = re.findall(r"src='(images/curves-[^']+)'", page)
    assert len(ids) == 2 and len(set(ids)) == 2
    assert len(curves) == 2 and len(set(curves)) == 2 and all((out / c).is_file() for c in curves)
    links = re.findall(r"<a href='#([^']+)'>", page)
    assert set(ids) <= set(links)


def test_an_output_folder_that_cannot_be_made_is_one_line(results_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (["report", str(results_dir), "--out", str(blocker / "site")],
                 ["plot", "curves", str(results_dir), "-t", "synthetic-sentiment", "-o", str(blocker / "x" / "c.png")]):
        out = CliRunner().invoke(cli, args)
        assert out.exit_code == 1 and "Traceback" not in out.output, out.output
        assert f"cannot create folder '{blocker}" in out.output and "Not a directory" in out.output
