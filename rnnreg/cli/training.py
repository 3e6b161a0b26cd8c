"""The commands that train: `run` (a suite's jobs) and `tune` (equal-budget studies, then the tuned rows).
Both only parse, check and print; the jobs, the runner and the tuner live in the package below."""

from __future__ import annotations

from pathlib import Path

import click

from rnnreg.cli.app import (
    COLUMNS_OPTION,
    FORMATS,
    LOG_OPTION,
    WIDE_OPTION,
    cli,
    default_results_dir,
    get_plugins,
    parse_assignments,
    parse_columns,
    parse_logs,
    sweep_values,
)
from rnnreg.cli.output import emit_leaderboard, stderr
from rnnreg.errors import RnnregError


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
              help="Jobs at once [env: RNNREG_JOBS; default: one per core on CPU, each on one thread; one per "
                   "visible GPU with CUDA]; with --executor ray, Ray tasks that share this machine's cores "
                   "(cores // N CPUs each) [default: all cores a task].")
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
    from rnnreg.suite import choose_regularizers, choose_tasks, load_suite, override_settings

    # Everything below up to `runner.plan` only checks and resolves: a mistake stops here, before training.
    plugins = get_plugins(ctx)
    wanted_columns = parse_columns(columns)
    plan = load_suite(suite, plugins)
    choose_tasks(plan, plugins, task_names)
    if params and not specs:
        raise RnnregError("--param needs -r SPEC to say which regularizer it sets")
    overrides = {key: sweep_values(value) for key, value in parse_assignments(params, "--param").items()}
    notes = choose_regularizers(plan, plugins, specs, overrides, run_all)  # said once everything is checked
    if seeds:
        plan.seeds = list(range(seeds))
    override_settings(plan, plugins, parse_assignments(settings, "--set"))

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
    for note in notes:
        stderr.print(note, style="dim")

    from rnnreg.executors import Terminated, jobs_at_once, run_planned, sigterm_as_interrupt

    reporter = Reporter(stderr, planned, jobs_at_once(planned, executor, jobs, runner.device))
    runner.report = reporter
    try:
        with sigterm_as_interrupt(), reporter:  # as Ctrl-C: checkpoint kept, one line
            run_planned(runner, planned, executor=executor, jobs=jobs, address=address,
                        plugins_dir=ctx.find_root().obj["plugins_dir"])
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        stderr.print(f"[yellow]{'terminated' if terminated else 'interrupted'}[/yellow]: {reporter.finished} of "
                     f"{len(planned)} jobs have results in {runner.results_dir}; the job in flight keeps its last "
                     "epoch checkpoint: run the same command again to resume (finished jobs are skipped)")
        ctx.exit(143 if terminated else 130)

    from rnnreg.results import UnreadableResult, read_result

    results, elsewhere = [], 0
    for planned_job in planned:
        try:
            results.append(read_result(planned_job.path))
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


@cli.command()
@click.option("--suite", default=None, metavar="FILE|NAME", help="Suite whose regularizers to tune [default: quick].")
@click.option("-t", "--task", "task_names", multiple=True, metavar="TASK", help="Tune on this task (repeatable).")
@click.option("-r", "--regularizer", "labels", multiple=True, metavar="LABEL",
              help="Tune only the suite's rows with this label (repeatable) [default: every row].")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a task setting for every task, e.g. model.hidden_size=256.")
@click.option("--trials", type=click.IntRange(1), default=None,
              help="Search draws per regularizer and search, the same for every one [default: 16; grid: its size].")
@click.option("--sampler", type=click.Choice(["random", "qmc", "grid", "tpe", "gp"]), default="random",
              show_default=True, help="Where trials go (rnnreg.sampling); budget curves assume random or qmc.")
@click.option("--seed", "sampler_seed", type=int, default=0, show_default=True,
              help="The sampler's seed (search m uses seed + m).")
@click.option("--searches", type=click.IntRange(1), default=1, show_default=True,
              help="Independent searches per regularizer, each with the full budget and its own sampler seed.")
@click.option("--finalists", type=click.IntRange(1), default=3, show_default=True,
              help="Candidates of a search (its trials and the reference) rechecked on more seeds before choosing.")
@click.option("--select-seeds", type=click.IntRange(0), default=2, show_default=True,
              help="Extra seeds each finalist is trained on; the best mean over 1 + this many seeds wins.")
@click.option("--final-seeds", type=click.IntRange(1), default=5, show_default=True,
              help="Seeds the chosen configuration is trained on, none used to select it: the tuned rows.")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna storage URL [default: sqlite:///RESULTS_DIR/studies.sqlite3]; a PostgreSQL URL lets "
                   "several drivers share the studies.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True)
@click.option("--results-dir", type=click.Path(), default=None,
              help="Where result files go [default: ./rnnreg-results, env: RNNREG_RESULTS_DIR].")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Dataset folder [env: RNNREG_DATA_DIR].")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--jobs", type=click.IntRange(1), default=None,
              help="Trials at once [env: RNNREG_JOBS; default: one per core on CPU, each on one thread]; with "
                   "--executor ray, cores // N CPUs a task.")
@click.option("--address", default=None, help="Ray cluster address for --executor ray.")
@LOG_OPTION
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True,
              help="The tuned leaderboard's format on stdout.")
@click.pass_context
def tune(ctx, suite, task_names, labels, settings, trials, sampler, sampler_seed, searches, finalists, select_seeds,
         final_seeds, storage, device,
         results_dir, data_dir, executor, jobs, address, logs, fmt):
    """Tune every regularizer of a suite with the same budget, then retrain each one's best over seeds.

    Trials select on the validation metric only. Rerunning the same command continues the studies: no
    trial is counted twice or lost, finished trials are read back instead of trained."""
    from rnnreg.data import resolve_data_dir
    from rnnreg.executors import Terminated, jobs_at_once, run_planned, sigterm_as_interrupt
    from rnnreg.progress import Reporter
    from rnnreg.runner import Runner, resolve_device
    from rnnreg.suite import choose_tasks, load_suite, only_labels, override_settings
    from rnnreg.tune import Tuner

    plugins = get_plugins(ctx)
    plan = load_suite(suite, plugins)
    only_labels(plan, labels)
    choose_tasks(plan, plugins, task_names)
    override_settings(plan, plugins, parse_assignments(settings, "--set"))
    if executor == "ray":
        from rnnreg.executors import import_ray

        import_ray()
    runner = Runner(plugins, Path(results_dir or default_results_dir()), device=resolve_device(device),
                    data_dir=resolve_data_dir(data_dir)[0], device_requested=device,
                    observers=parse_logs(plugins, logs),
                    report=lambda event, info: Reporter.warn(stderr, event, info))

    def run_jobs(planned):
        reporter = Reporter(stderr, planned, jobs_at_once(planned, executor, jobs, runner.device))
        runner.report = reporter
        with reporter:
            run_planned(runner, planned, executor=executor, jobs=jobs, address=address,
                        plugins_dir=ctx.find_root().obj["plugins_dir"])

    tuner = Tuner(runner, plan, plugins, trials=trials, sampler=sampler, seed=sampler_seed, storage=storage,
                  final_seeds=final_seeds, finalists=finalists, select_seeds=select_seeds, searches=searches,
                  run_jobs=run_jobs, report=lambda message: stderr.print(message))
    try:
        with sigterm_as_interrupt():
            outcome = tuner.run()
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        stderr.print(f"[yellow]{'terminated' if terminated else 'interrupted'}[/yellow]: the studies in "
                     f"{tuner.storage_label()} keep every told trial; run the same command again to continue")
        ctx.exit(143 if terminated else 130)
    per_trial = max(0.0, outcome.tuner_seconds - outcome.open_seconds) / max(1, outcome.trials_run)
    stderr.print(f"{len(outcome.studies)} studies in {tuner.storage_label()}: {outcome.trials_run} trials told this "
                 f"run; the tuner's own time {outcome.tuner_seconds:.2f} s: {outcome.open_seconds:.2f} s opening the "
                 f"studies, then {per_trial * 1000:.0f} ms a trial (ask, tell, storage)")
    if outcome.decisions:
        emit_leaderboard(group_results(runner.results_dir, tuner.group), fmt)


def group_results(folder: Path, group: str) -> list[dict]:
    """Every result of one tuning group — references, trials, rechecks, finals — for its tuned section."""
    from rnnreg.results import read_results

    results, _ = read_results(folder)
    return [r for r in results if ((r.get("config") or {}).get("tuning") or {}).get("group") == group]
