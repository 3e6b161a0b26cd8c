"""What is installed and how it behaves: `plugins list`, `tasks list`, `explain`, `bench`, `data`."""

from __future__ import annotations

import json

import click
from rich.text import Text

from rnnreg.cli import output
from rnnreg.cli.app import FORMATS, cli, get_plugins, parse_assignments
from rnnreg.cli.output import print_rows, stderr
from rnnreg.errors import RnnregError


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
    from rnnreg.params import is_probability
    from rnnreg.searchspace import plugin_space

    found = get_plugins(ctx)
    if kind in (None, "regularizers"):
        rows = [{"name": e.name, "origin": e.origin, "sites": plugin_sites(e.cls), "description": e.cls.description,
                 "params": dict(e.cls.params),
                 "search_space": {k: d.describe() for k, d in plugin_space(e.cls, e.name).items()},
                 "strength_moves": [k for k in e.cls.params if is_probability(k)]}
                for e in found.regularizers]
        print_rows(rows, ["name", "origin", "sites", "description", "params", "search_space", "strength_moves"], fmt,
                   "regularizers")
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


@cli.command()
@click.argument("spec")
@click.option("--steps", type=click.IntRange(1, 200), default=8, show_default=True, help="Time steps to draw.")
@click.option("--units", type=click.IntRange(1, 200), default=16, show_default=True, help="Units per site to draw.")
@click.option("--tokens", default="the dog and the cat", show_default=True,
              help="Words of the sequence (they repeat to fill --steps).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a parameter (repeatable).")
@click.option("--cell", type=click.Choice(["lstm", "gru"]), default="lstm", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--layer", type=click.IntRange(0), default=0, show_default=True,
              help="The layer to draw (0 is the first): a plan's rules may differ per layer.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def explain(ctx, spec, steps, units, tokens, params, cell, seed, layer, fmt):
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
    picture = draw(regularizer, steps=steps, units=units, tokens=words, cell=cell, seed=seed, layer=layer)
    if fmt == "json":
        click.echo(json.dumps({k: v for k, v in picture.items() if k != "rules"}))
    else:
        render(picture, output.stdout)


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
    output.stdout.print(table)


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
