"""Where the command line writes: data on stdout (tables, JSON, CSV, markdown), progress and notes on stderr."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.text import Text

stdout, stderr = Console(), Console(stderr=True, soft_wrap=True)
if not stdout.is_terminal:  # piped into a file or CI log: do not squeeze tables into 80 columns
    stdout = Console(width=200)


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
        from rnnreg.tables import markdown_table

        click.echo("\n".join(markdown_table(columns, [[cell_text(r[c]) for c in columns] for r in rows])))
    else:
        from rich.table import Table

        table = Table(title=title or None, title_justify="left")
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*(Text(cell_text(r[c])) for c in columns))
        stdout.print(table)


def emit_leaderboard(results: list[dict], fmt: str, title: str = "", columns=None, wide=False, rows=None) -> None:
    """Print the board of `results` (or of `rows` already built from them) in `fmt` on stdout."""
    from rnnreg import leaderboard as lb
    from rnnreg import rendering

    rows = rows if rows is not None else lb.build_rows(results)
    if fmt == "json":
        click.echo(rendering.render_json(rows))
    elif fmt == "csv":
        click.echo(rendering.render_csv(rows), nl=False)
    elif fmt == "markdown":
        click.echo(rendering.render_markdown(rows, title))
    else:
        left_out = rendering.render_rich(rows, stdout, columns, wide)
        if left_out:
            stderr.print(f"columns left out to fit {stdout.width} characters: {', '.join(left_out)} "
                         "(--wide shows all, --columns chooses)")
    if any(r["n"] for r in rows) and all(r["n"] <= 1 for r in rows):
        stderr.print("1 seed per row: differences between rows are untested (run with --seeds 5 to rank them)")
