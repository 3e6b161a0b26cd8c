"""`rnnreg explain`: the paper's Figure 1 in the terminal.

It samples the masks of one sequence exactly as training does (`RNNModel.sample_masks`' own function)
and shows, per site and per time step, which units of the first layer of one sample are kept (1) or
dropped (0). Per-sequence masks show as identical rows; per-step masks change from row to row.
"""

from __future__ import annotations

import torch

from rnnreg.dropout import SITE_HELP, SITES
from rnnreg.model import GATES, sample_masks


def explain(regularizer, *, steps: int, units: int, tokens: list[str], cell: str = "lstm", seed: int = 0) -> dict:
    words = [tokens[t % len(tokens)] for t in range(steps)]
    vocabulary = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = torch.tensor([[vocabulary[w] for w in words]] * 2)  # two samples, so per-sample masks are real
    plan = regularizer.plan()
    masks = sample_masks(plan, ids, vocab_size=len(vocabulary), cell=cell, input_size=units,
                         hidden_size=units, num_layers=1, generator=torch.Generator().manual_seed(seed))

    def kept(mask):  # (gates|1, batch|1, steps|1, units) → sample 0, one row per step
        if mask is None:
            return None
        rows = (mask[:, 0] > 0).int().expand(mask.shape[0], steps, units).tolist()
        return dict(zip(GATES[cell], rows)) if mask.shape[0] > 1 else rows[0]

    sites = {
        "embedding": None if masks.embedding is None else (masks.embedding[0, :, 0] > 0).int().tolist(),
        "input": kept(masks.input[0]),
        "recurrent": kept(masks.recurrent[0]),
        "cell": kept(masks.cell[0]),
        "output": kept(masks.output),
    }
    return {"spec": regularizer.spec, "steps": steps, "units": units, "tokens": words, "sites": sites,
            "rules": {site: rule.describe() for site, rule in plan.items()}}


def render(picture: dict, console) -> None:
    from rich.text import Text

    console.print(Text(f"{picture['spec']}: which units are kept (█) or dropped (·), first layer, one sample", style="bold"))
    width = max(len(w) for w in picture["tokens"])
    for site in SITES:
        value = picture["sites"][site]
        rule = picture["rules"].get(site)
        header = Text(f"\n{site}", style="bold cyan")
        header.append(f" — {SITE_HELP[site]}", style="dim")
        console.print(header)
        if value is None:
            console.print("  untouched")
            continue
        console.print(f"  {rule}")
        if site == "embedding":
            for t, (word, keep) in enumerate(zip(picture["tokens"], value), 1):
                console.print(f"  t={t:<3} {word:<{width}}  {word if keep else '—'}", markup=False)
            continue
        for gate, rows in (value.items() if isinstance(value, dict) else [("", value)]):
            if gate:
                console.print(f"  gate {gate}")
            for t, (word, row) in enumerate(zip(picture["tokens"], rows), 1):
                console.print(f"  t={t:<3} {word:<{width}}  " + "".join("█" if k else "·" for k in row), markup=False)
