"""The `rnnreg` command line. Data goes to stdout, progress and logs to stderr; a user mistake is one
line on stderr and a non-zero exit, never a traceback. Commands parse and print; what they do lives in the
package below (runner, tune, leaderboard, claims, report, ...).

    app.py       the group, shared options, argument parsing, reading a results folder
    output.py    stdout / stderr, tables in every --format
    catalog.py   plugins list, tasks list, explain, bench, data
    training.py  run, tune
    reading.py   leaderboard, claims, reproduce, report, plot curves
"""

from rnnreg.cli import catalog, reading, training  # noqa: F401  (importing them registers their commands)
from rnnreg.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="rnnreg")
