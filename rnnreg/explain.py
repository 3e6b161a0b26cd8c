"""`rnnreg explain`: the paper's Figure 1 in the terminal, for every site a regularizer can act on.

It samples the masks of one sequence exactly as training does (`RNNModel.sample_masks`' own function)
and shows, per site and per time step, what happens to the units of one layer (the first, or `layer`) of
one sample:
    dropout sites   kept (1) or dropped (0); per-sequence masks show as identical rows, per-step masks
                    change from row to row; a continuous mask (Gaussian, or a learned rate's relaxed
                    training mask) shows its multiplier instead, drawn as a shade;
    zoneout sites   takes the new value (1) or keeps its previous one (0);
    weight_recurrent  the kept fraction of W_hh's entries and the mask over its first gate's block;
and, for a regularizer with a loss term, which activations its penalty reads and its parameters.
"""

from __future__ import annotations

import torch

from rnnreg.dropout import SITE_HELP, SITES, rule_at, rules_of, site_rules
from rnnreg.learned import logit, rate_key
from rnnreg.model import GATES, sample_masks
from rnnreg.params import overrides_of
from rnnreg.regularizer import build_regularizer, penalty_arguments


def explain_result(result: dict, registry, **picture) -> dict:
    """`explain`'s picture of the regularizer a result ran, rebuilt from the parameters it recorded (an
    RnnregError when its plugin is not installed here)."""
    overrides = overrides_of(result["regularizer"].get("params") or {})
    return explain(build_regularizer(result["regularizer"]["spec"], overrides, registry), **picture)


def explain(regularizer, *, steps: int, units: int, tokens: list[str], cell: str = "lstm", seed: int = 0,
            layer: int = 0) -> dict:
    words = [tokens[t % len(tokens)] for t in range(steps)]
    vocabulary = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = torch.tensor([[vocabulary[w] for w in words]] * 2)  # two samples, so per-sample masks are real
    plan = regularizer.plan()
    # As many layers as the plan names (a rule may apply to the second layer only), and the one drawn.
    num_layers = 1 + max([layer, *(k for _, rule in site_rules(plan) for k in rule.layers or ())])
    weights_hh = [torch.empty(len(GATES[cell]) * units, units) for _ in range(num_layers)]
    # A learned rate is drawn at its initial value, as its first training step would draw it (relaxed).
    rates = {rate_key(site, k): torch.tensor(logit(rule.p)) for site, rule in site_rules(plan) if rule.learned
             for k in range(num_layers)}
    masks = sample_masks(plan, ids, vocab_size=len(vocabulary), cell=cell, input_size=units,
                         hidden_size=units, num_layers=num_layers, generator=torch.Generator().manual_seed(seed),
                         weights_hh=weights_hh, rates=rates, relaxed=True)

    def continuous(site: str) -> bool:
        rule = rule_at(plan, site, layer)
        return rule is not None and (rule.distribution == "gaussian" or rule.learned)

    def kept(mask, site):  # (gates|1, batch|1, steps|1, units) → sample 0, one row per step
        if mask is None:
            return None
        sample = mask[:, 0].expand(mask.shape[0], steps, units)
        rows = sample.mul(1000).round().div(1000).tolist() if continuous(site) else (sample > 0).int().tolist()
        return dict(zip(GATES[cell], rows, strict=True)) if mask.shape[0] > 1 else rows[0]

    def weight_picture(masks_by_layer):
        if not masks_by_layer or masks_by_layer[layer] is None:
            return None
        kept_entries = masks_by_layer[layer] > 0
        return {"kept_fraction": round(kept_entries.float().mean().item(), 4),
                "shape": list(kept_entries.shape), "gate": GATES[cell][0],
                "matrix": kept_entries[:units].int().tolist()}  # the first gate's (units × units) block

    embedding = None
    if masks.embedding is not None and layer == 0:  # word types are dropped once, below the first layer
        values = masks.embedding[0, :, 0]
        continuous_values = values.mul(1000).round().div(1000)
        embedding = continuous_values.tolist() if continuous("embedding") else (values > 0).int().tolist()
    sites = {
        "embedding": embedding,
        "input": kept(masks.input[layer], "input"),
        "weight_recurrent": weight_picture(masks.weight_recurrent),
        "recurrent": kept(masks.recurrent[layer], "recurrent"),
        "candidate": kept(masks.candidate[layer], "candidate"),
        "cell": kept(masks.cell[layer] if masks.cell[layer] is not None else masks.cell_zoneout[layer], "cell"),
        "hidden": kept(masks.hidden[layer], "hidden"),
        "output": kept(masks.output, "output"),  # one site, after the last layer
    }
    first = {site: rule_at(plan, site, layer) for site in plan}
    penalties = [{"name": part.name, "params": dict(part.values), "activations": penalty_arguments(type(part).penalty),
                  "description": part.description} for part in regularizer.penalties()]
    return {"spec": regularizer.spec, "layer": layer, "steps": steps, "units": units, "tokens": words, "sites": sites,
            "kinds": {site: "continuous" if continuous(site) else (rule.kind if rule else "dropout")
                      for site, rule in first.items()},
            "penalties": penalties,
            "rules": {site: "; ".join(rule.describe() for rule in rules_of(value)) for site, value in plan.items()}}


SYMBOLS = {"dropout": ("█", "·", "kept (█) or dropped (·)"),
           "zoneout": ("█", "=", "new value (█) or previous value kept (=)"),
           "continuous": ("", "", "the multiplier: · 0, ░ under 0.5, ▒ 0.5–1, ▓ 1–1.5, █ over 1.5")}


def shade(value: float) -> str:
    """A continuous mask's multiplier as one character (mean 1: ▒ or ▓ near it)."""
    if value == 0:
        return "·"
    return "░" if value < 0.5 else "▒" if value < 1.0 else "▓" if value < 1.5 else "█"


def render(picture: dict, console) -> None:
    from rich.text import Text

    which = "first layer" if picture["layer"] == 0 else f"layer {picture['layer']}"
    console.print(Text(f"{picture['spec']}: what each site does, {which}, one sample", style="bold"))
    width = max(len(w) for w in picture["tokens"])
    for site in SITES:
        value = picture["sites"][site]
        rule = picture["rules"].get(site)
        header = Text(f"\n{site}", style="bold cyan")
        header.append(f" — {SITE_HELP[site]}", style="dim")
        console.print(header)
        if value is None:
            console.print("  untouched" if rule is None else f"  {rule} (no mask at this layer, or p=0)")
            continue
        kind = picture["kinds"][site]
        on, off, legend = SYMBOLS[kind]
        console.print(f"  {rule}; {legend}")
        if site == "embedding":
            for t, (word, keep) in enumerate(zip(picture["tokens"], value, strict=True), 1):
                shown = f"{word} ×{keep:.2f}" if kind == "continuous" else word if keep else "—"
                console.print(f"  t={t:<3} {word:<{width}}  {shown}", markup=False)
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
                cells = "".join(shade(k) if kind == "continuous" else on if k else off for k in row)
                console.print(f"  t={t:<3} {word:<{width}}  " + cells, markup=False)
    for penalty in picture["penalties"]:
        params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in penalty["params"].items())
        console.print(Text(f"\nloss term: {penalty['name']}", style="bold cyan"))
        console.print(f"  no mask; {params}, on {', '.join(penalty['activations'])} (training loss only)")
        console.print(f"  {penalty['description']}", style="dim")
