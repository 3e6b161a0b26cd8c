"""The `rnnreg` group and what its commands share: options, argument parsing, and reading a results folder.

Commands live beside this module by what they do with results: catalog.py (plugins, tasks, explain, bench,
data), training.py (run, tune), reading.py (leaderboard, claims, reproduce, report, plot); output.py prints.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import yaml
from rich.markup import escape

from rnnreg.cli.output import stderr
from rnnreg.errors import RnnregError

FORMATS = click.Choice(["table", "json", "markdown", "csv"])


class RnnregGroup(click.Group):
    """Turns `RnnregError` into click's one-line `Error: ...` and exit status 1, and a usage mistake (an
    unknown option, a value out of range) into one line too, exit status 2, instead of click's three."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

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


def get_plugins(ctx, reading: bool = False):
    """The loaded plugins, checked for what the command does: a command that only reads results
    (`reading`) skips running the penalties, which needs torch; any other runs them before it goes on."""
    from rnnreg.plugins import load_plugins

    root = ctx.find_root()
    if "plugins" not in root.obj:
        root.obj["plugins"] = load_plugins(root.obj["plugins_dir"], check_penalties=False)
    if not reading:
        root.obj["plugins"].check_penalties()
    return root.obj["plugins"]


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


def default_results_dir() -> str:
    from rnnreg.results import DEFAULT_RESULTS_DIR, RESULTS_DIR_ENV

    return os.environ.get(RESULTS_DIR_ENV, DEFAULT_RESULTS_DIR)


def existing_results_dir(results_dir: str | None) -> Path:
    folder = Path(results_dir or default_results_dir())
    if not folder.is_dir():
        raise RnnregError(f"results folder {str(folder)!r} does not exist (run `rnnreg run` first, or name a folder)")
    return folder


def read_checked_results(folder: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """Every valid result under `folder`; each file that fails validation is named on stderr with the
    reason and left out (the caller decides whether that fails the command)."""
    from rnnreg.results import read_results

    results, rejected = read_results(folder)
    for path, reason in rejected:
        stderr.print(f"[red]result left out[/red] {escape(path)}: {escape(reason)}")
    return results, rejected


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
    from rnnreg.rendering import COLUMNS

    if not text:
        return None
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in COLUMNS]
    if unknown or not wanted:
        raise RnnregError(f"--columns: unknown column {', '.join(map(repr, unknown)) or '(none)'} "
                          f"(columns: {', '.join(COLUMNS)})")
    return wanted


def suites_with_claims(ctx, results: list[dict]) -> list[tuple]:
    from rnnreg.claimscope import suites_with_claims as scope

    return scope(results, get_plugins(ctx, reading=True), warn=lambda message: stderr.print(escape(message)))
