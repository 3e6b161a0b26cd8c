"""The `rnnreg` command line. Data goes to stdout, progress and logs to stderr; a user mistake is one
line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from rnnreg.errors import RnnregError

FORMATS = click.Choice(["table", "json", "markdown", "csv"])
stdout, stderr = Console(), Console(stderr=True, soft_wrap=True)
if not stdout.is_terminal:  # piped into a file or CI log: do not squeeze tables into 80 columns
    stdout = Console(width=200)


def parse_assignments(pairs: tuple[str, ...], option: str) -> dict:
    """`key=value` pairs → dict; values are read as YAML scalars (0.3 → float, true → bool)."""
    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise RnnregError(f"{option} expects key=value, got {pair!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):  # YAML 1.1 reads 1e38 as a string; a user means the number
            try:
                value = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                pass
        values[key.strip()] = value
    return values


def sweep_values(value):
    """`--param p=0,0.25,0.5` sweeps p: a comma-separated value becomes a list of YAML scalars."""
    if isinstance(value, str) and "," in value:
        return [parse_scalar(part) for part in value.split(",")]
    return value


def parse_scalar(raw: str):
    return parse_assignments((f"v={raw}",), "--param")["v"]


class RnnregGroup(click.Group):
    """Turns `RnnregError` into click's one-line `Error: ...` and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RnnregError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=RnnregGroup)
@click.version_option(package_name="rnnreg")
@click.option("--plugins-dir", type=click.Path(), envvar="RNNREG_PLUGINS_DIR",
              help="Load every .py file in this folder as a plugin [env: RNNREG_PLUGINS_DIR].")
@click.pass_context
def cli(ctx, plugins_dir):
    """Compare regularizers for recurrent neural networks."""
    ctx.obj = {"plugins_dir": plugins_dir}


def get_plugins(ctx):
    from rnnreg.plugins import load_plugins

    root = ctx.find_root()
    if "plugins" not in root.obj:
        root.obj["plugins"] = load_plugins(root.obj["plugins_dir"])
    return root.obj["plugins"]


def cell_text(value) -> str:
    """A dict or list in a text cell: `k=v, k=v` / `a, b`."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def print_rows(rows: list[dict], columns: list[str], fmt: str, title: str = "") -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        as_csv = lambda value: json.dumps(value) if isinstance(value, (dict, list)) else value  # noqa: E731  (one-line helper)
        writer.writerows([[as_csv(r[c]) for c in columns] for r in rows])
    elif fmt == "markdown":
        click.echo("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
        for r in rows:
            click.echo("| " + " | ".join(cell_text(r[c]).replace("|", "\\|") for c in columns) + " |")
    else:
        from rich.table import Table

        table = Table(title=title or None, title_justify="left")
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*(Text(cell_text(r[c])) for c in columns))
        stdout.print(table)


# --- plugins, tasks ---------------------------------------------------------------------------------


@cli.group()
def plugins():
    """Regularizer plugins."""


@plugins.command("list")
@click.option("--kind", type=click.Choice(["regularizers", "observers"]), default=None,
              help="Only this kind of plugin [default: regularizers, and observers below them in a table].")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def plugins_list(ctx, kind, fmt):
    """Every registered regularizer (name, origin, the sites it acts on and loss term, description,
    parameters with defaults, the ranges `rnnreg tune` searches) and observer (`--log NAME[:DEST]`).
    Tasks: `rnnreg tasks list`."""
    from rnnreg.searchspace import plugin_space

    found = get_plugins(ctx)
    if kind in (None, "regularizers"):
        rows = [{"name": e.name, "origin": e.origin, "sites": plugin_sites(e.cls), "description": e.cls.description,
                 "params": dict(e.cls.params),
                 "search_space": {k: d.describe() for k, d in plugin_space(e.cls, e.name).items()}}
                for e in found.regularizers]
        print_rows(rows, ["name", "origin", "sites", "description", "params", "search_space"], fmt, "regularizers")
    if kind == "observers" or (kind is None and fmt == "table"):
        rows = [{"name": e.name, "origin": e.origin, "description": e.cls.description, "destination": e.cls.destination}
                for e in found.observers]
        print_rows(rows, ["name", "origin", "description", "destination"], fmt, "observers (rnnreg run --log NAME)")


def plugin_sites(cls) -> list[str]:
    """The sites a regularizer acts on at its defaults, in data-flow order, and `loss` when it has a penalty."""
    from rnnreg.dropout import SITES, rules_of

    def how(rule) -> list[str]:
        notes = ["zoneout" if rule.kind == "zoneout" else "", "gaussian" if rule.distribution == "gaussian" else "",
                 "learned p" if rule.learned else "",
                 "" if rule.layers is None else "layers " + ",".join(map(str, rule.layers))]
        return [note for note in notes if note]

    plan = cls().plan()
    sites = []
    for site in (site for site in SITES if site in plan):
        notes = [", ".join(how(rule)) for rule in rules_of(plan[site])]
        notes = [note for note in notes if note]
        sites.append(f"{site} ({'; '.join(notes)})" if notes else site)
    return sites + (["loss"] if cls.penalty is not None else [])


@cli.group()
def tasks():
    """Tasks regularizers are compared on."""


@tasks.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def tasks_list(ctx, fmt):
    """Every registered task: name, origin, kind, metric and description."""
    rows = [{"name": e.name, "origin": e.origin, "kind": e.cls.kind, "metric": e.cls().primary_metric,
             "description": e.cls.description} for e in get_plugins(ctx).tasks]
    print_rows(rows, ["name", "origin", "kind", "metric", "description"], fmt, "tasks")


# --- explain ------------------------------------------------------------------------------------------


@cli.command()
@click.argument("spec")
@click.option("--steps", type=click.IntRange(1, 200), default=8, show_default=True, help="Time steps to draw.")
@click.option("--units", type=click.IntRange(1, 200), default=16, show_default=True, help="Units per site to draw.")
@click.option("--tokens", default="the dog and the cat", show_default=True,
              help="Words of the sequence (they repeat to fill --steps).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a parameter (repeatable).")
@click.option("--cell", type=click.Choice(["lstm", "gru"]), default="lstm", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def explain(ctx, spec, steps, units, tokens, params, cell, seed, fmt):
    """Draw which units a regularizer keeps and drops, per site and time step (the paper's Figure 1)."""
    from rnnreg.dropout import check_plan_fits
    from rnnreg.explain import explain as draw
    from rnnreg.explain import render
    from rnnreg.regularizer import build_regularizer

    words = tokens.split()
    if not words:
        raise RnnregError("--tokens must contain at least one word")
    regularizer = build_regularizer(spec, parse_assignments(params, "--param"), get_plugins(ctx).regularizers)
    try:
        check_plan_fits(regularizer.plan(), cell)
    except RnnregError as exc:
        raise RnnregError(f"{spec!r}: {exc} (or draw it with --cell lstm)") from None
    picture = draw(regularizer, steps=steps, units=units, tokens=words, cell=cell, seed=seed)
    if fmt == "json":
        click.echo(json.dumps({k: v for k, v in picture.items() if k != "rules"}))
    else:
        render(picture, stdout)


# --- run, leaderboard ---------------------------------------------------------------------------------


def default_results_dir() -> str:
    from rnnreg.results import DEFAULT_RESULTS_DIR, RESULTS_DIR_ENV

    return os.environ.get(RESULTS_DIR_ENV, DEFAULT_RESULTS_DIR)


COLUMNS_OPTION = click.option("--columns", default=None, metavar="NAME,NAME",
                              help="Table columns to show, by name (e.g. '#,regularizer,n,valid,test').")
WIDE_OPTION = click.option("--wide", is_flag=True, help="Show every table column, whatever the terminal's width.")


LOG_OPTION = click.option("--log", "logs", multiple=True, metavar="NAME[:DEST]",
                          help="Watch every job with an observer plugin (repeatable): tensorboard[:DIR], "
                               "mlflow[:TRACKING_URI], or any registered one (rnnreg plugins list).")


def parse_logs(plugins, logs: tuple[str, ...]) -> tuple:
    """`--log` specs, checked before anything trains: the observer exists and can run here."""
    from rnnreg.observer import LogSpec, check_log_specs

    specs = tuple(LogSpec.parse(text) for text in logs)
    check_log_specs(specs, plugins.observers)
    return specs


def parse_columns(text: str | None) -> list[str] | None:
    from rnnreg.leaderboard import COLUMNS

    if not text:
        return None
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in COLUMNS]
    if unknown or not wanted:
        raise RnnregError(f"--columns: unknown column {', '.join(map(repr, unknown)) or '(none)'} "
                          f"(columns: {', '.join(COLUMNS)})")
    return wanted


@cli.command()
@click.option("--all", "run_all", is_flag=True, help="Every registered regularizer, on top of the suite's list.")
@click.option("-r", "--regularizer", "specs", multiple=True, metavar="SPEC",
              help="Run this spec (repeatable), e.g. variational+embedding.")
@click.option("-t", "--task", "task_names", multiple=True, metavar="TASK", help="Run this task (repeatable).")
@click.option("--suite", default=None, metavar="FILE|NAME", help="Suite YAML file or built-in name [default: quick].")
@click.option("--seeds", type=click.IntRange(1), default=None, help="Run seeds 0..N-1 instead of the suite's.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Parameter for the -r specs (repeatable).")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a task setting for every task, e.g. train.epochs=2 or model.hidden_size=64.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True)
@click.option("--results-dir", type=click.Path(), default=None,
              help="Where result files go [default: ./rnnreg-results, env: RNNREG_RESULTS_DIR].")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Dataset folder [env: RNNREG_DATA_DIR].")
@click.option("--force", is_flag=True, help="Rerun jobs even when their results exist.")
@click.option("--retry-failed/--no-retry-failed", default=True, show_default=True,
              help="Rerun jobs whose earlier result is a failure (its reason is logged).")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue unfinished jobs from their last epoch checkpoint (RESULTS_DIR/.checkpoints/).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run jobs in local processes or as Ray tasks.")
@click.option("--jobs", type=click.IntRange(1), default=None,
              help="Jobs at once [default: 1 on CPU, one per visible GPU with CUDA].")
@click.option("--address", default=None, help="Ray cluster address for --executor ray [env: RAY_ADDRESS; "
              "default: start a local Ray instance].")
@LOG_OPTION
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Leaderboard format on stdout.")
@COLUMNS_OPTION
@WIDE_OPTION
@click.pass_context
def run(ctx, run_all, specs, task_names, suite, seeds, params, settings, device, results_dir, data_dir, force,
        retry_failed, resume, executor, jobs, address, logs, fmt, columns, wide):
    """Train and evaluate regularizers on tasks; print the leaderboard of this run."""
    from rnnreg.data import resolve_data_dir
    from rnnreg.jobs import expand
    from rnnreg.progress import Reporter
    from rnnreg.runner import Runner, resolve_device
    from rnnreg.suite import RegularizerEntry, apply_dropout_scale, expand_sweep, load_suite

    # Everything below up to `runner.plan` only checks and resolves: a mistake stops here, before training.
    plugins = get_plugins(ctx)
    wanted_columns = parse_columns(columns)
    plan = load_suite(suite, plugins)
    choose_tasks(plan, plugins, task_names)
    named: list[RegularizerEntry] = []  # what the command line adds to the suite's list or puts in its place
    if specs:
        overrides = {key: sweep_values(value) for key, value in parse_assignments(params, "--param").items()}
        from rnnreg.regularizer import build_regularizer

        plan.regularizers = []
        for spec in specs:
            for entry in expand_sweep(spec, dict(overrides)):  # p=0,0.5 → one job per value
                build_regularizer(entry.spec, entry.params, plugins.regularizers)  # fail now, in one line
                named.append(entry)
    elif params:
        raise RnnregError("--param needs -r SPEC to say which regularizer it sets")
    if run_all:
        listed = {entry.label for entry in plan.regularizers + named}
        named += [RegularizerEntry(name) for name in plugins.regularizers.names() if name not in listed]
    scaled = apply_dropout_scale(named, plan.dropout_scale, plugins.regularizers)  # as the suite's own entries
    if scaled != named:
        stderr.print(f"dropout_scale {plan.dropout_scale} of suite {plan.name!r} applies to the regularizers "
                     "named here too", style="dim")
    plan.regularizers += scaled
    if seeds:
        plan.seeds = list(range(seeds))
    override_settings(plan, plugins, settings)

    if executor == "ray":
        from rnnreg.executors import import_ray

        import_ray()  # not installed: say how, before anything runs
    elif address:
        raise RnnregError("--address names a Ray cluster: use it with --executor ray")
    observers = parse_logs(plugins, logs)
    grid = expand(plan, plugins)
    runner = Runner(plugins, Path(results_dir or default_results_dir()), device=resolve_device(device),
                    data_dir=resolve_data_dir(data_dir)[0], force=force, retry_failed=retry_failed,
                    resume=resume, device_requested=device, observers=observers,
                    report=lambda event, info: Reporter.warn(stderr, event, info))
    planned = runner.plan(grid)

    from rnnreg.executors import Terminated, interrupt_on_signal, run_planned

    reporter = Reporter(stderr, planned)
    runner.report = reporter
    previous_handler = signal.signal(signal.SIGTERM, interrupt_on_signal)  # as Ctrl-C: checkpoint kept, one line
    try:
        with reporter:
            run_planned(runner, planned, executor=executor, jobs=jobs, address=address,
                        plugins_dir=ctx.find_root().obj["plugins_dir"])
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        stderr.print(f"[yellow]{'terminated' if terminated else 'interrupted'}[/yellow]: {reporter.finished} of "
                     f"{len(planned)} jobs have results in {runner.results_dir}; the job in flight keeps its last "
                     "epoch checkpoint: run the same command again to resume (finished jobs are skipped)")
        ctx.exit(143 if terminated else 130)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)

    from rnnreg.results import UnreadableResult, read_result

    results, elsewhere = [], 0
    for *_, path, _ in planned:
        try:
            results.append(read_result(path))
        except UnreadableResult:  # still training in another process (said above, per job)
            elsewhere += 1
    if elsewhere:
        stderr.print(f"{elsewhere} jobs are left to other processes; rerun when they finish to see every row")
    if results:
        emit_leaderboard(results, fmt, columns=wanted_columns, wide=wide)
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        stderr.print(f"[red]{len(failed)} of {len(results)} jobs failed[/red] "
                     f"(see the leaderboard; results in {runner.results_dir})")
        ctx.exit(1)


def choose_tasks(plan, plugins, task_names: tuple[str, ...]) -> None:
    """`-t TASK`: run these tasks (with the suite's overrides where it has them) instead of the suite's."""
    if task_names:
        for name in task_names:
            plugins.tasks.get(name)
        plan.tasks = {name: plan.tasks.get(name, {"model": {}, "train": {}}) for name in task_names}


def override_settings(plan, plugins, settings: tuple[str, ...]) -> None:
    """`--set SECTION.KEY=VALUE`: every task of the plan gets the setting, checked against its type."""
    from rnnreg.settings import check_setting

    for key, value in parse_assignments(settings, "--set").items():
        section, _, name = key.partition(".")
        for task_name, overrides in plan.tasks.items():
            task_cls = plugins.tasks.get(task_name).cls
            overrides.setdefault(section, {})[name] = check_setting(task_cls, section, name, value, "--set")


def emit_leaderboard(results: list[dict], fmt: str, title: str = "", columns=None, wide=False) -> None:
    from rnnreg import leaderboard as lb

    rows = lb.build_rows(results)
    if fmt == "json":
        click.echo(lb.render_json(rows))
    elif fmt == "csv":
        click.echo(lb.render_csv(rows), nl=False)
    elif fmt == "markdown":
        click.echo(lb.render_markdown(rows, title))
    else:
        left_out = lb.render_rich(rows, stdout, columns, wide)
        if left_out:
            stderr.print(f"columns left out to fit {stdout.width} characters: {', '.join(left_out)} "
                         "(--wide shows all, --columns chooses)")
    if any(r["n"] for r in rows) and all(r["n"] <= 1 for r in rows):
        stderr.print("1 seed per row: differences between rows are untested (run with --seeds 5 to rank them)")


@cli.command()
@click.argument("results_dir", required=False, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--write", "write_to", type=click.Path(dir_okay=False),
              help="Regenerate this markdown file from the results.")
@click.option("--check", "check_file", type=click.Path(dir_okay=False),
              help="Exit 1 when this file is out of date or a result file cannot be read.")
@COLUMNS_OPTION
@WIDE_OPTION
@click.pass_context
def leaderboard(ctx, results_dir, fmt, write_to, check_file, columns, wide):
    """Build the leaderboard from result files alone."""
    from rnnreg import leaderboard as lb

    folder = existing_results_dir(results_dir)
    wanted_columns = parse_columns(columns)
    results, unreadable = read_checked_results(folder)
    if not results:
        raise RnnregError(f"no readable result files in {str(folder)!r}")
    lb.use_current_references(results, get_plugins(ctx).tasks)
    rows = lb.build_rows(results)
    stderr.print(f"{len(results)} result files read, {len(rows)} rows"
                 + (f", {len(unreadable)} left out (listed above)" if unreadable else ""))
    if write_to or check_file:
        from rnnreg import board
        from rnnreg import claims as cl

        target = Path(write_to or check_file)
        claim_rows = cl.evaluate_all(results, suites_with_claims(ctx, results))
        text = board.board_markdown(rows, claim_rows, files=len(results), src=str(results_dir or folder), dst=target)
        if write_to:
            board.write_board(target, text)
            stderr.print(f"wrote {target} from {len(results)} result files")
            return
        if unreadable:
            raise RnnregError(f"{len(unreadable)} result files in {folder} fail validation (listed above); "
                              "fix or remove them, then regenerate the board")
        if not board.is_current(target, text):
            raise RnnregError(f"{target} is out of date with {folder}; regenerate it with "
                              f"`rnnreg leaderboard {results_dir or folder} --write {target}`")
        stderr.print(f"{target} is up to date with {len(results)} result files")
        return
    emit_leaderboard(results, fmt, "rnnreg leaderboard", wanted_columns, wide)


@cli.command()
@click.argument("results_dir", required=False, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
@click.pass_context
def claims(ctx, results_dir, fmt):
    """Check every claim of the suites whose results are in RESULTS_DIR: holds, contradicted or inconclusive."""
    from rnnreg import claims as cl

    folder = existing_results_dir(results_dir)
    results, _ = read_checked_results(folder)
    rows = cl.evaluate_all(results, suites_with_claims(ctx, results))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
    elif fmt == "markdown":
        click.echo(cl.render_markdown(rows))
    elif rows:
        table = [dict(zip(cl.CLAIM_COLUMNS, cl.claim_cells(r), strict=True)) for r in rows]
        print_rows(table, list(cl.CLAIM_COLUMNS), "table", "claims")
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
            rows.append({"task": v.task, "regularizer": v.label, "seed": v.seed, "verdict": v.status,
                         "largest difference": detail})
        print_rows(rows, ["task", "regularizer", "seed", "verdict", "largest difference"], "table", "reproduce")
    counts = {status: sum(v.status == status for v in verdicts)
              for status in (rp.IDENTICAL, rp.WITHIN, rp.DIFFERENT, rp.NOT_COMPARABLE)}
    stderr.print(", ".join(f"{n} {status}" for status, n in counts.items()) + f" of {len(verdicts)} reruns")
    if counts[rp.DIFFERENT]:
        ctx.exit(1)


# --- tune ---------------------------------------------------------------------------------------------


@cli.command()
@click.option("--suite", default=None, metavar="FILE|NAME", help="Suite whose regularizers to tune [default: quick].")
@click.option("-t", "--task", "task_names", multiple=True, metavar="TASK", help="Tune on this task (repeatable).")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a task setting for every task, e.g. model.hidden_size=256.")
@click.option("--trials", type=click.IntRange(1), default=16, show_default=True,
              help="Trials per regularizer: the same budget for every one.")
@click.option("--sampler", type=click.Choice(["random", "tpe"]), default="random", show_default=True,
              help="Optuna's sampler, with the same seed for every regularizer; budget curves assume random.")
@click.option("--seed", "sampler_seed", type=int, default=0, show_default=True, help="The sampler's seed.")
@click.option("--final-seeds", type=click.IntRange(0), default=5, show_default=True,
              help="Retrain each regularizer's best configuration over seeds 0..K-1: the tuned rows.")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna storage URL [default: sqlite:///RESULTS_DIR/studies.sqlite3]; a PostgreSQL URL lets "
                   "several drivers share the studies.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True)
@click.option("--results-dir", type=click.Path(), default=None,
              help="Where result files go [default: ./rnnreg-results, env: RNNREG_RESULTS_DIR].")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Dataset folder [env: RNNREG_DATA_DIR].")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--jobs", type=click.IntRange(1), default=None, help="Trials at once [default: 1 on CPU].")
@click.option("--address", default=None, help="Ray cluster address for --executor ray.")
@LOG_OPTION
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True,
              help="The tuned leaderboard's format on stdout.")
@click.pass_context
def tune(ctx, suite, task_names, settings, trials, sampler, sampler_seed, final_seeds, storage, device,
         results_dir, data_dir, executor, jobs, address, logs, fmt):
    """Tune every regularizer of a suite with the same budget, then retrain each one's best over seeds.

    Trials select on the validation metric only. Rerunning the same command continues the studies: no
    trial is counted twice or lost, finished trials are read back instead of trained."""
    from rnnreg.data import resolve_data_dir
    from rnnreg.executors import Terminated, interrupt_on_signal, run_planned
    from rnnreg.progress import Reporter
    from rnnreg.runner import Runner, resolve_device
    from rnnreg.suite import load_suite
    from rnnreg.tune import Tuner

    plugins = get_plugins(ctx)
    plan = load_suite(suite, plugins)
    choose_tasks(plan, plugins, task_names)
    override_settings(plan, plugins, settings)
    if executor == "ray":
        from rnnreg.executors import import_ray

        import_ray()
    runner = Runner(plugins, Path(results_dir or default_results_dir()), device=resolve_device(device),
                    data_dir=resolve_data_dir(data_dir)[0], device_requested=device,
                    observers=parse_logs(plugins, logs),
                    report=lambda event, info: Reporter.warn(stderr, event, info))

    def run_jobs(planned):
        reporter = Reporter(stderr, planned)
        runner.report = reporter
        with reporter:
            run_planned(runner, planned, executor=executor, jobs=jobs, address=address,
                        plugins_dir=ctx.find_root().obj["plugins_dir"])

    tuner = Tuner(runner, plan, plugins, trials=trials, sampler=sampler, seed=sampler_seed, storage=storage,
                  final_seeds=final_seeds, run_jobs=run_jobs, report=lambda message: stderr.print(message))
    previous_handler = signal.signal(signal.SIGTERM, interrupt_on_signal)
    try:
        outcome = tuner.run()
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        stderr.print(f"[yellow]{'terminated' if terminated else 'interrupted'}[/yellow]: the studies in "
                     f"{tuner.storage_label()} keep every told trial; run the same command again to continue")
        ctx.exit(143 if terminated else 130)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    per_trial = outcome.tuner_seconds / max(1, outcome.trials_run)
    stderr.print(f"{len(outcome.studies)} studies in {tuner.storage_label()}: {outcome.trials_run} trials told this "
                 f"run; the tuner's own time {outcome.tuner_seconds:.2f} s ({per_trial * 1000:.0f} ms a trial)")
    if outcome.finals:
        emit_leaderboard(outcome.finals + trial_results(runner.results_dir, tuner.group), fmt)


def trial_results(folder: Path, group: str) -> list[dict]:
    """The trials of one tuning group, for the budget curves beside its tuned rows."""
    from rnnreg.results import read_results

    results, _ = read_results(folder)
    return [r for r in results if ((r.get("config") or {}).get("tuning") or {}).get("group") == group
            and r["config"]["tuning"]["role"] == "trial"]


# --- report, plot ------------------------------------------------------------------------------------


def read_checked_results(folder: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """Every valid result under `folder`; each file that fails validation is named on stderr with the
    reason and left out (the caller decides whether that fails the command)."""
    from rnnreg.results import read_results

    results, rejected = read_results(folder)
    for path, reason in rejected:
        stderr.print(f"[red]result left out[/red] {escape(path)}: {escape(reason)}")
    return results, rejected


def existing_results_dir(results_dir: str | None) -> Path:
    folder = Path(results_dir or default_results_dir())
    if not folder.is_dir():
        raise RnnregError(f"results folder {str(folder)!r} does not exist (run `rnnreg run` first, or name a folder)")
    return folder


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
    index = write_report(folder, results, len(left_out), Path(out_dir), get_plugins(ctx),
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
    from rnnreg.report import make_folder, plot_curves, plot_test_curves, pyplot

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


def suites_with_claims(ctx, results: list[dict]) -> list[tuple]:
    from rnnreg.claims import suites_with_claims as scope

    return scope(results, get_plugins(ctx), warn=lambda message: stderr.print(escape(message)))


# --- bench ------------------------------------------------------------------------------------------


@cli.command()
@click.option("--shape", type=click.Choice(["small", "medium"]), default="medium", show_default=True,
              help="PTB small (H 200, T 20) or medium (H 650, T 35); batch 20, vocabulary 10,000, 2 layers.")
@click.option("--cell", type=click.Choice(["lstm", "gru"]), default="lstm", show_default=True,
              help="The recurrent cell of every row, the fused reference's included.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True)
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True, help="Timed repeats per row (median).")
@click.option("--steps", "steps_per_repeat", type=click.IntRange(1), default=5, show_default=True,
              help="Training steps per repeat.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def bench(ctx, shape, cell, device, repeats, steps_per_repeat, fmt):
    """Training and evaluation tokens/s of every regularizer, beside the fused kernel and the GEMM limit."""
    from rnnreg.bench import run_bench
    from rnnreg.runner import resolve_device

    report = run_bench(get_plugins(ctx), shape=shape, cell=cell, device=resolve_device(device), repeats=repeats,
                       steps_per_repeat=steps_per_repeat, progress=lambda m: stderr.print(m))
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    from rich.table import Table

    title = (f"{report['device']}, {cell.upper()} {shape} shape: GEMM limit {report['gemm_limit_tokens_per_s']:,.0f} "
             f"train tokens/s ({report['gemm_flops_per_s'] / 1e9:.0f} GFLOP/s, {report['gemm_kernel']})")
    table = Table(title=title, title_justify="left")
    for column in ("row", "train tok/s", "eval tok/s", "× fused", "× GEMM limit", "peak MiB"):
        table.add_column(column, justify="left" if column == "row" else "right")
    for row in report["rows"]:
        table.add_row(Text(row["name"]), f"{row['train_tokens_per_s']:,.0f}", f"{row['eval_tokens_per_s']:,.0f}",
                      f"{row['ratio_to_fused']:.2f}", f"{row['ratio_to_limit']:.2f}",
                      f"{row['peak_mem_bytes'] / 2**20:,.0f}")
    stdout.print(table)


# --- data -------------------------------------------------------------------------------------------


@cli.group()
def data():
    """Datasets of the real-data tasks: where they are, whether they are intact, fetching them."""


DATA_DIR_OPTION = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                               help="Dataset folder [env: RNNREG_DATA_DIR; default: a per-user folder].")


@data.command("list")
@DATA_DIR_OPTION
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def data_list(data_dir, fmt):
    """Each dataset: verified, present but wrong (checksum mismatch), or missing, and where it was looked for.
    Exits 1 when a dataset is present but wrong."""
    from rnnreg.data import DATASETS, check, resolve_data_dir

    folder, chosen_by = resolve_data_dir(data_dir)
    rows = []
    for dataset in DATASETS.values():
        state, files = check(dataset, folder / dataset.name)
        status = {"verified": "present, verified", "mismatch": "present but wrong (checksum mismatch)",
                  "missing": "missing"}[state]
        rows.append({"name": dataset.name, "status": status, "problem_files": ", ".join(files),
                     "path": str(folder / dataset.name), "source": dataset.source})
    stderr.print(f"data directory: {folder} (from {chosen_by})")
    print_rows(rows, ["name", "status", "problem_files", "path", "source"], fmt, "datasets")
    wrong = [row["name"] for row in rows if row["status"].startswith("present but wrong")]
    if wrong:  # a missing dataset is a choice; a corrupt one is a fault a script must see
        raise RnnregError(f"{', '.join(wrong)}: present but failing the SHA-256 check; "
                          f"fetch again with `rnnreg data fetch NAME` or replace the files")


@data.command("fetch")
@click.argument("name")
@DATA_DIR_OPTION
@click.option("--url", default=None, help="Download from here instead of the public source (a mirror, or file://).")
def data_fetch(name, data_dir, url):
    """Download a dataset, verify every file's SHA-256, and install it; all or nothing."""
    from rnnreg.data import fetch, resolve_data_dir

    folder, _ = resolve_data_dir(data_dir)
    target = fetch(name, folder, url)
    stderr.print(f"{name}: verified and installed in {target}")


def main() -> None:
    cli(prog_name="rnnreg")
