"""`rnnreg explain`: the paper's Figure 1 in the terminal, for every site a regularizer can act on.

It samples the masks of one sequence exactly as training does (`RNNModel.sample_masks`' own function)
and shows, per site and per time step, what happens to the units of the first layer of one sample:
    dropout sites   kept (1) or dropped (0); per-sequence masks show as identical rows, per-step masks
                    change from row to row;
    zoneout sites   takes the new value (1) or keeps its previous one (0);
    weight_recurrent  the kept fraction of W_hh's entries and the mask over its first gate's block;
and, for a regularizer with a loss term, which activations its penalty reads and its parameters.
"""

from __future__ import annotations

import torch

from rnnreg.dropout import SITE_HELP, SITES
from rnnreg.model import GATES, sample_masks
from rnnreg.regularizer import penalty_arguments


def explain(regularizer, *, steps: int, units: int, tokens: list[str], cell: str = "lstm", seed: int = 0) -> dict:
    words = [tokens[t % len(tokens)] for t in range(steps)]
    vocabulary = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = torch.tensor([[vocabulary[w] for w in words]] * 2)  # two samples, so per-sample masks are real
    plan = regularizer.plan()
    weight_hh = torch.empty(len(GATES[cell]) * units, units)
    masks = sample_masks(plan, ids, vocab_size=len(vocabulary), cell=cell, input_size=units,
                         hidden_size=units, num_layers=1, generator=torch.Generator().manual_seed(seed),
                         weights_hh=[weight_hh])

    def kept(mask):  # (gates|1, batch|1, steps|1, units) → sample 0, one row per step
        if mask is None:
            return None
        rows = (mask[:, 0] > 0).int().expand(mask.shape[0], steps, units).tolist()
        return dict(zip(GATES[cell], rows, strict=True)) if mask.shape[0] > 1 else rows[0]

    def weight_picture(masks_by_layer):
        if not masks_by_layer:
            return None
        kept_entries = masks_by_layer[0] > 0
        return {"kept_fraction": round(kept_entries.float().mean().item(), 4),
                "shape": list(kept_entries.shape), "gate": GATES[cell][0],
                "matrix": kept_entries[:units].int().tolist()}  # the first gate's (units × units) block

    sites = {
        "embedding": None if masks.embedding is None else (masks.embedding[0, :, 0] > 0).int().tolist(),
        "input": kept(masks.input[0]),
        "weight_recurrent": weight_picture(masks.weight_recurrent),
        "recurrent": kept(masks.recurrent[0]),
        "candidate": kept(masks.candidate[0]),
        "cell": kept(masks.cell[0] if masks.cell[0] is not None else masks.cell_zoneout[0]),
        "hidden": kept(masks.hidden[0]),
        "output": kept(masks.output),
    }
    penalties = [{"name": part.name, "params": dict(part.values), "activations": penalty_arguments(type(part).penalty),
                  "description": part.description} for part in regularizer.penalties()]
    return {"spec": regularizer.spec, "steps": steps, "units": units, "tokens": words, "sites": sites,
            "kinds": {site: rule.kind for site, rule in plan.items()}, "penalties": penalties,
            "rules": {site: rule.describe() for site, rule in plan.items()}}


SYMBOLS = {"dropout": ("█", "·", "kept (█) or dropped (·)"),
           "zoneout": ("█", "=", "new value (█) or previous value kept (=)")}


def render(picture: dict, console) -> None:
    from rich.text import Text

    console.print(Text(f"{picture['spec']}: what each site does, first layer, one sample", style="bold"))
    width = max(len(w) for w in picture["tokens"])
    for site in SITES:
        value = picture["sites"][site]
        rule = picture["rules"].get(site)
        header = Text(f"\n{site}", style="bold cyan")
        header.append(f" — {SITE_HELP[site]}", style="dim")
        console.print(header)
        if value is None:
            console.print("  untouched" if rule is None else f"  {rule} (no mask to draw at p=0)")
            continue
        kind = picture["kinds"][site]
        on, off, legend = SYMBOLS[kind]
        console.print(f"  {rule}; {legend}")
        if site == "embedding":
            for t, (word, keep) in enumerate(zip(picture["tokens"], value, strict=True), 1):
                console.print(f"  t={t:<3} {word:<{width}}  {word if keep else '—'}", markup=False)
            continue
        if site == "weight_recurrent":
            console.print(f"  kept {value['kept_fraction']:.1%} of W_hh's {value['shape'][0]}×{value['shape'][1]} "
                          f"entries, one mask for every step and sample; gate {value['gate']}'s block:")
            for row in value["matrix"]:
                console.print("  " + "".join(on if k else off for k in row), markup=False)
            continue
        for gate, rows in (value.items() if isinstance(value, dict) else [("", value)]):
            if gate:
                console.print(f"  gate {gate}")
            for t, (word, row) in enumerate(zip(picture["tokens"], rows, strict=True), 1):
                console.print(f"  t={t:<3} {word:<{width}}  " + "".join(on if k else off for k in row), markup=False)
    for penalty in picture["penalties"]:
        params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in penalty["params"].items())
        console.print(Text(f"\nloss term: {penalty['name']}", style="bold cyan"))
        console.print(f"  no mask; {params}, on {', '.join(penalty['activations'])} (training loss only)")
        console.print(f"  {penalty['description']}", style="dim")
