"""The commands that read results and train nothing (`reproduce` aside, which reruns committed jobs to compare):
`leaderboard`, `claims`, `reproduce`, `report`, `plot curves`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rnnreg.cli.app import (
    COLUMNS_OPTION,
    FORMATS,
    WIDE_OPTION,
    cli,
    existing_results_dir,
    get_plugins,
    parse_columns,
    read_checked_results,
    suites_with_claims,
)
from rnnreg.cli.output import emit_leaderboard, print_rows, stderr
from rnnreg.errors import RnnregError


@cli.command()
@click.argument("results_dir", required=False, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--write", "write_to", type=click.Path(dir_okay=False),
              help="Regenerate this markdown file from the results.")
@click.option("--check", "check_file", type=click.Path(dir_okay=False),
              help="Exit 1 when this file is out of date or a result file cannot be read.")
@click.option("--readme", type=click.Path(dir_okay=False), default=None,
              help="With --write or --check: also the answer block between the <!-- rnnreg:answer --> markers of "
                   "this README, linking into the board.")
@COLUMNS_OPTION
@WIDE_OPTION
@click.pass_context
def leaderboard(ctx, results_dir, fmt, write_to, check_file, readme, columns, wide):
    """Build the leaderboard from result files alone."""
    from rnnreg import leaderboard as lb

    folder = existing_results_dir(results_dir)
    wanted_columns = parse_columns(columns)
    results, unreadable = read_checked_results(folder)
    if not results:
        raise RnnregError(f"no readable result files in {str(folder)!r}")
    lb.use_current_references(results, get_plugins(ctx, reading=True).tasks)
    rows = lb.build_rows(results)
    stderr.print(f"{len(results)} result files read, {len(rows)} rows"
                 + (f", {len(unreadable)} left out (listed above)" if unreadable else ""))
    if write_to or check_file:
        from rnnreg import board
        from rnnreg import claims as cl

        target = Path(write_to or check_file)
        claim_rows = cl.evaluate_all(results, suites_with_claims(ctx, results))
        text = board.board_markdown(rows, claim_rows, files=len(results), src=str(results_dir or folder), dst=target)
        readme_text = board.readme_with_answer(Path(readme), rows, claim_rows, target) if readme else None
        if write_to:
            board.write_board(target, text)
            stderr.print(f"wrote {target} from {len(results)} result files")
            if readme and readme_text is not None:
                board.write_board(Path(readme), readme_text)
                stderr.print(f"wrote the answer into {readme}")
            return
        if readme and not board.is_current(Path(readme), readme_text or ""):
            raise RnnregError(f"{readme}'s answer is out of date with {folder}; regenerate it with "
                              f"`rnnreg leaderboard {results_dir or folder} --write {target} --readme {readme}`")
        if unreadable:
            raise RnnregError(f"{len(unreadable)} result files in {folder} fail validation (listed above); "
                              "fix or remove them, then regenerate the board")
        if not board.is_current(target, text):
            raise RnnregError(f"{target} is out of date with {folder}; regenerate it with "
                              f"`rnnreg leaderboard {results_dir or folder} --write {target}`")
        stderr.print(f"{target} is up to date with {len(results)} result files")
        return
    emit_leaderboard(results, fmt, "rnnreg leaderboard", wanted_columns, wide, rows=rows)


@cli.command()
@click.argument("results_dir", required=False, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
@click.pass_context
def claims(ctx, results_dir, fmt):
    """Check every claim of the suites whose results are in RESULTS_DIR: holds, contradicted or inconclusive."""
    from rnnreg import claims as cl
    from rnnreg import claimtable

    folder = existing_results_dir(results_dir)
    results, _ = read_checked_results(folder)
    rows = cl.evaluate_all(results, suites_with_claims(ctx, results))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
    elif fmt == "markdown":
        click.echo(claimtable.render_markdown(rows))
    elif rows:
        table = [dict(zip(claimtable.CLAIM_COLUMNS, claimtable.claim_cells(r), strict=True)) for r in rows]
        print_rows(table, list(claimtable.CLAIM_COLUMNS), "table", "claims")
    if not rows:
        stderr.print(f"no claims: none of the suites whose results are in {folder} states any")


@cli.command()
@click.argument("results_dir", type=click.Path(file_okay=False))
@click.option("-t", "--task", "task_names", multiple=True, metavar="TASK", help="Only this task (repeatable).")
@click.option("-r", "--regularizer", "labels", multiple=True, metavar="LABEL",
              help="Only this row label (repeatable), as the board names it.")
@click.option("--seeds", default="0", show_default=True, metavar="N,N",
              help="The committed seeds to rerun, comma-separated.")
@click.option("--margin", type=click.FloatRange(0, min_open=True), default=0.01, show_default=True,
              help="Relative margin for rows with fewer than 3 seeds (else 1.96·√2 × the row's seed standard "
                   "deviation: the 95 % range of two independent draws).")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None,
              help="Where the reruns' results go; a rerun there is reused [default: a temporary folder].")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Dataset folder [env: RNNREG_DATA_DIR].")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def reproduce(ctx, results_dir, task_names, labels, seeds, margin, work_dir, data_dir, fmt):
    """Rerun committed results here and say per job: identical, within seed noise, or different (exit 1).

    Same machine, thread count and code path: bit-identical. Another machine of the same kind: float
    rounding differs and training amplifies it, so "within" (the 95 % range of two independent seeds of
    the committed row) is the promise; each result's `machine` records the CPU model, instruction set,
    thread count and step-GEMM path. Each rerun uses the committed result's thread count."""
    import tempfile

    from rnnreg import reproduce as rp
    from rnnreg.data import resolve_data_dir
    from rnnreg.progress import Reporter
    from rnnreg.runner import Runner

    plugins = get_plugins(ctx)
    try:
        wanted_seeds = {int(part) for part in seeds.split(",")}
    except ValueError:
        raise RnnregError(f"--seeds {seeds!r}: expected seed numbers separated by commas, like 0,1") from None
    committed, _ = read_checked_results(existing_results_dir(results_dir))
    chosen = rp.choose(committed, task_names, labels, wanted_seeds)
    if not chosen:
        raise RnnregError(f"no finished result in {results_dir} matches the tasks, labels and seeds asked for")
    with tempfile.TemporaryDirectory(prefix="rnnreg-reproduce-") as scratch:
        runner = Runner(plugins, Path(work_dir or scratch), data_dir=resolve_data_dir(data_dir)[0],
                        report=lambda event, info: Reporter.warn(stderr, event, info))
        verdicts = rp.reproduce(committed, chosen, runner, margin,
                                display=lambda planned: Reporter(stderr, planned))
    if fmt == "json":
        click.echo(json.dumps([v.as_dict() for v in verdicts], indent=2))
    else:
        rows = []
        for v in verdicts:
            worst = max(v.metrics, key=lambda m: abs(m.here - m.committed) / (m.margin or 1), default=None)
            detail = v.reason or ("" if worst is None else
                                  f"{worst.name}: {worst.committed:.6g} committed, {worst.here:.6g} here "
                                  f"(Δ {worst.here - worst.committed:+.3g}, margin {worst.margin:.3g})")
            if v.environment:  # another torch build or device: other rounding, as on another machine
                detail += f" · {v.environment}"
            rows.append({"task": v.task, "regularizer": v.label, "seed": v.seed, "verdict": v.status,
                         "largest difference": detail})
        print_rows(rows, ["task", "regularizer", "seed", "verdict", "largest difference"], "table", "reproduce")
    counts = {status: sum(v.status == status for v in verdicts)
              for status in (rp.IDENTICAL, rp.WITHIN, rp.DIFFERENT, rp.NOT_COMPARABLE)}
    stderr.print(", ".join(f"{n} {status}" for status, n in counts.items()) + f" of {len(verdicts)} reruns")
    if counts[rp.DIFFERENT]:
        ctx.exit(1)


@cli.command()
@click.argument("results_dir", required=False, type=click.Path(file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="site", show_default=True,
              help="Folder to write index.html and its images into.")
@click.option("--speed", "speed_dir", type=click.Path(file_okay=False), default=None,
              help="Folder of `rnnreg bench --format json` files [default: RESULTS_DIR/../speed when it exists].")
@click.pass_context
def report(ctx, results_dir, out_dir, speed_dir):
    """Write the results as a static site: tables, learning curves, mask pictures, sweeps, speed, claims."""
    from rnnreg import claims as cl
    from rnnreg.report import write_report

    folder = existing_results_dir(results_dir)
    speed = Path(speed_dir) if speed_dir else folder.resolve().parent / "speed"
    if speed_dir and not speed.is_dir():
        raise RnnregError(f"--speed folder {speed_dir!r} does not exist")
    results, left_out = read_checked_results(folder)
    claims = cl.evaluate_all(results, suites_with_claims(ctx, results)) if results else []
    index = write_report(folder, results, len(left_out), Path(out_dir), get_plugins(ctx, reading=True),
                         speed_dir=speed if speed.is_dir() else None, claims=claims,
                         progress=lambda message: stderr.print(message, style="dim"))
    click.echo(str(index))


@cli.group()
def plot():
    """Single figures, for papers and notebooks."""


@plot.command("curves")
@click.argument("results_dir", required=False, type=click.Path(file_okay=False))
@click.option("-t", "--task", required=True, help="Task whose learning curves to draw.")
@click.option("--section", default=None,
              help="Which setting of the task, when it has several: the board's name for it, or a part of "
                   "the name no other setting shares.")
@click.option("--test", "test_split", is_flag=True,
              help="The test split's metric per epoch, every regularizer on one axis (the paper's sentiment "
                   "figure); needs runs with evaluation.curve_test.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Image file (.png, .svg, .pdf).")
@click.pass_context
def plot_curves_command(ctx, results_dir, task, section, test_split, output):
    """Learning curves of every regularizer on one task: validation and training metric per epoch, or with
    --test the test metric per epoch."""
    from rnnreg import leaderboard as lb
    from rnnreg.figures import plot_curves, plot_test_curves, pyplot
    from rnnreg.report import make_folder

    results, _ = read_checked_results(existing_results_dir(results_dir))
    rows = [r for r in lb.build_rows(results) if r["task"] == task]
    if not rows:
        known = sorted({r["task"]["name"] for r in results})
        raise RnnregError(f"no results for task {task!r} (tasks with results: {', '.join(known) or 'none'})")
    sections = sorted({r["section"] for r in rows})
    if section is None and len(sections) > 1:
        raise RnnregError(f"task {task!r} has {len(sections)} settings; choose one with --section: "
                          + "; ".join(repr(s) for s in sections))
    chosen = section if section is not None else sections[0]
    if chosen not in sections:  # a part of a section's name will do, when it names one section alone
        matching = [s for s in sections if chosen in s]
        if len(matching) != 1:
            raise RnnregError(f"--section {chosen!r} {'matches none' if not matching else 'matches several'} of "
                              + "; ".join(repr(s) for s in (matching or sections)))
        chosen = matching[0]
    section_rows = [r for r in rows if r["section"] == chosen]
    by_path = {r["_path"]: r for r in results}
    runs_of = {r["regularizer"]: [by_path[p] for p in r["files"] if by_path[p]["status"] == "ok"] for r in section_rows}
    title = f"{task} · {chosen}" if chosen else task
    if test_split:
        drawn = plot_test_curves(section_rows, runs_of, title)
        if drawn is None:
            raise RnnregError(f"no run of {title!r} recorded the test split per epoch "
                              "(run it with evaluation.curve_test: true)")
        fig = drawn[0]
    else:
        fig, _ = plot_curves(section_rows, runs_of, title)
    make_folder(Path(output).parent)
    try:
        fig.savefig(output, dpi=120)
    except OSError as exc:
        raise RnnregError(f"cannot write {output!r}: {exc.strerror or exc}") from None
    finally:
        pyplot().close(fig)
    click.echo(output)
