"""Sites, the rules a regularizer sets on them, and the masks those rules sample.

A rule is one of two kinds:
    dropout  — multiply by a mask (the paper's regularizers, Semeniuta's candidate dropout, weight-drop);
               evaluation runs without it.
    zoneout  — with probability p a unit keeps its previous value instead of the new one (Krueger et al.
               2016): s_t = s_{t-1} + u ⊙ (ŝ_t − s_{t-1}) with u ~ Bernoulli(1 − p), no rescaling;
               evaluation uses the expectation, u = 1 − p. So a zoneout mask *is* used at evaluation, as the
               constant 1 − p: `evaluation_mask` builds it.

A dropout *mask* is Bernoulli(1 - p) scaled by 1 / (1 - p) (inverted dropout), so evaluation needs no rescaling.
One exception, the cell site with `scale="output"` (Moon's RNNDrop, the default there): the mask inside the
recurrence is plain 0/1 and the 1 / (1 - p) is applied once, to h_t = o ⊙ tanh(c_t). A per-sequence 0/1
mask is idempotent (m ⊙ m = m), so a kept cell runs exactly as without dropout; an inverted mask inside the
recurrence would scale a kept cell by 1 / (1 - p) at every step, a factor that compounds over the sequence.
Every unit mask has the shape (gates, batch, steps, units), with a 1 wherever the rule shares the mask:
    gates = 1 unless the rule is per gate (untied), batch = 1 for `scope="batch"`,
    steps = 1 for `per="sequence"` (one mask reused at every step of the sequence / BPTT window).
The weight_recurrent site's mask is over the entries of W_hh instead: (gates·units, units), one per forward
pass, shared by the batch and the steps (DropConnect as AWD-LSTM's WeightDrop does it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from rnnreg.errors import RnnregError

# Where a rule can act, in the order data flows through the model.
SITES = ("embedding", "input", "weight_recurrent", "recurrent", "candidate", "cell", "hidden", "output")

SITE_HELP = {
    "embedding": "word types: every occurrence of a dropped type in the sequence is zeroed",
    "input": "layer inputs x_t, at every layer",
    "weight_recurrent": "the entries of the hidden-to-hidden matrix W_hh, at every layer (DropConnect)",
    "recurrent": "the previous hidden state h_{t-1} where it meets W_hh",
    "candidate": "the candidate g_t (GRU: n_t) before it enters the state",
    "cell": "the LSTM cell state c_t inside the recurrence",
    "hidden": "the hidden state h_t inside the recurrence (what the next step and the next layer see)",
    "output": "the top layer's output, before the softmax / head",
}

# Which kinds of rule each site takes. Zoneout is a state update, so only the two states take it; a dropout
# mask on h_t itself would remove the state the next step reads (that is `recurrent` or `output`).
SITE_KINDS = {site: ("dropout",) for site in SITES} | {"cell": ("dropout", "zoneout"), "hidden": ("zoneout",)}

RULE_CHOICES = {"kind": ("dropout", "zoneout"), "per": ("step", "sequence"), "scope": ("sample", "batch"),
                "scale": ("mask", "output")}


@dataclass(frozen=True)
class SiteRule:
    """What happens at one site: the probability, the kind of rule, how often a mask is drawn, whether
    gates and samples share it."""

    p: float
    per: Literal["step", "sequence"] = "sequence"
    per_gate: bool = False
    scope: Literal["sample", "batch"] = "sample"
    # Where 1 / (1 - p) goes: in the mask ("mask"), or, on the cell site only, once on the cell's output
    # h = o ⊙ tanh(c) with a 0/1 mask inside the recurrence ("output"; see the module docstring).
    scale: Literal["mask", "output"] = "mask"
    # "dropout": zero with probability p; "zoneout": keep the previous value with probability p.
    kind: Literal["dropout", "zoneout"] = "dropout"

    def __post_init__(self) -> None:
        # A typo ("steps") or an impossible p must not quietly become something else.
        if type(self) is not SiteRule:
            raise RnnregError(f"{type(self).__name__} subclasses SiteRule, which rnnreg samples itself and would "
                              "ignore its changes; use SiteRule(p, per=..., per_gate=..., scope=..., scale=..., "
                              "kind=...)")
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0.0 <= self.p < 1.0:
            raise RnnregError(f"SiteRule p must be a number in [0, 1), got {self.p!r}")
        if not isinstance(self.per_gate, bool):
            raise RnnregError(f"SiteRule per_gate must be true or false, got {self.per_gate!r}")
        for name, allowed in RULE_CHOICES.items():
            if getattr(self, name) not in allowed:
                raise RnnregError(f"SiteRule {name}={getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.kind == "zoneout" and (self.per_gate or self.scale != "mask"):
            raise RnnregError("a zoneout SiteRule keeps whole units: it has no per_gate or scale "
                              f"(got per_gate={self.per_gate!r}, scale={self.scale!r})")

    def describe(self) -> str:
        if self.kind == "zoneout":
            parts = [f"zoneout p={self.p:g} (keeps the previous value)", f"per {self.per}",
                     f"evaluation: the expectation, {1 - self.p:g}·new + {self.p:g}·previous"]
            return ", ".join(parts + (["shared by the batch"] if self.scope == "batch" else []))
        parts = [f"p={self.p:g}", f"per {self.per}"]
        if self.per_gate:
            parts.append("per gate")
        if self.scope == "batch":
            parts.append("shared by the batch")
        if self.scale == "output":
            parts.append("0/1 mask, 1/(1-p) on h = o·tanh(c)")
        return ", ".join(parts)


def check_plan(plan: object) -> dict[str, SiteRule]:
    """A plan is {site: SiteRule} over the sites the model implements, each with a rule its site can take;
    anything else is an error, not a silently untouched site."""
    if not isinstance(plan, dict):
        raise RnnregError(f"plan() must return a dict of site → SiteRule, got {type(plan).__name__}")
    for site, rule in plan.items():
        if site not in SITES:
            raise RnnregError(f"plan() names site {site!r}, which the model does not have (sites: {', '.join(SITES)})")
        if type(rule) is not SiteRule:
            raise RnnregError(f"plan() gives the {site} site a {type(rule).__name__}, not a SiteRule")
        if rule.scale == "output" and site != "cell":
            raise RnnregError(f"SiteRule scale='output' exists only on the cell site, not on {site!r}")
        if rule.kind not in SITE_KINDS[site]:
            raise RnnregError(f"the {site} site takes {' or '.join(SITE_KINDS[site])} rules, not {rule.kind!r}")
        if site == "weight_recurrent" and (rule.per, rule.scope, rule.per_gate) != ("sequence", "batch", False):
            raise RnnregError("the weight_recurrent site draws one mask over W_hh per forward pass, shared by the "
                              "batch: its rule must be SiteRule(p, per='sequence', scope='batch')")
    return plan


def sample_mask(
    rule: SiteRule,
    *,
    batch: int,
    steps: int,
    units: int,
    gates: int = 1,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A mask of shape (gates|1, batch|1, steps|1, units) following `rule`: inverted dropout, a 0/1 cell
    mask (scale="output"), or zoneout's u (1 = take the new value, with probability 1 − p)."""
    shape = (
        gates if rule.per_gate else 1,
        batch if rule.scope == "sample" else 1,
        steps if rule.per == "step" else 1,
        units,
    )
    return keep_mask(shape, 1.0 - rule.p, device, generator, inverted=rule.kind == "dropout" and rule.scale == "mask")


def evaluation_mask(rule: SiteRule, units: int, device: torch.device | str | None = None) -> torch.Tensor | None:
    """What a site applies at evaluation: nothing for dropout, zoneout's expectation u = 1 − p."""
    if rule.kind != "zoneout":
        return None
    return torch.full((1, 1, 1, units), 1.0 - rule.p, device=device)


def sample_weight_mask(rule: SiteRule, weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """An inverted-dropout mask over the entries of a weight matrix (weight_recurrent's DropConnect)."""
    return keep_mask(weight.shape, 1.0 - rule.p, weight.device, generator)


def keep_mask(shape: tuple[int, ...] | torch.Size, keep: float, device: torch.device | str | None,
              generator: torch.Generator | None, inverted: bool = True) -> torch.Tensor:
    """1 / keep (or 1, when not `inverted`) with probability `keep`, else 0. Drawn as floor(u + keep) from
    uniform u: the same distribution as `bernoulli_`, at a quarter of its cost on CPU (it matters for
    per-step masks)."""
    if keep == 1.0:
        return torch.ones(shape, device=device)
    mask = torch.rand(shape, device=device, generator=generator).add_(keep).floor_()
    return mask.div_(keep) if inverted else mask


def sample_type_table(rule: SiteRule, batch: int, vocab_size: int, device: torch.device | str | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Word-type dropout's draws: one keep/drop per (sequence, word type), a (batch|1, vocab) table.

    Only this table is sampled, which is cheap next to the (B, T, V) softmax; `type_mask_from_table`
    looks it up at each token, so "the" is either kept everywhere in a sequence or dropped everywhere.
    """
    return keep_mask((batch if rule.scope == "sample" else 1, vocab_size), 1.0 - rule.p, device, generator)


def type_mask_from_table(table: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The (batch, steps, 1) embedding mask of `tokens` under a word-type table."""
    return table.expand(tokens.shape[0], -1).gather(1, tokens).unsqueeze(-1)


def sample_type_mask(rule: SiteRule, tokens: torch.Tensor, vocab_size: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Word-type dropout for one sequence batch: a (batch, steps, 1) mask that drops every occurrence of
    a dropped type."""
    return type_mask_from_table(sample_type_table(rule, tokens.shape[0], vocab_size, tokens.device, generator), tokens)


def at_step(mask: torch.Tensor | None, t: int) -> torch.Tensor | None:
    """The (gates|1, batch|1, units) slice of a mask for step t; a per-sequence mask has one step."""
    if mask is None:
        return None
    return mask[:, :, t if mask.shape[2] > 1 else 0]


def plan_fits(plan: dict[str, SiteRule], cell: str) -> bool:
    """Whether a plan's sites all exist in this cell: a GRU has no cell state c_t."""
    return "cell" not in plan or cell == "lstm"


def check_plan_fits(plan: dict[str, SiteRule], cell: str) -> None:
    """The one place that says a GRU has no cell state, for every caller (runner, model, explain, bench)."""
    if not plan_fits(plan, cell):
        raise RnnregError("the cell site (Moon's dropout, zoneout's p_cell) is the LSTM's cell state, which a GRU "
                          "does not have; for a GRU leave it out (zoneout: p_cell=0)")

