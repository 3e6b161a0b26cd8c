"""Sites and the rules a regularizer sets on them: the declarative plan (rnnreg.masks samples its masks).

A rule is one of two kinds:
    dropout  — multiply by a mask (the paper's regularizers, Semeniuta's candidate dropout, weight-drop);
               evaluation runs without it.
    zoneout  — with probability p a unit keeps its previous value instead of the new one (Krueger et al.
               2016): s_t = s_{t-1} + u ⊙ (ŝ_t − s_{t-1}) with u ~ Bernoulli(1 − p), no rescaling;
               evaluation uses the expectation, u = 1 − p. So a zoneout mask *is* used at evaluation, as the
               constant 1 − p: `rnnreg.masks.evaluation_mask` builds it.

A dropout *mask* is Bernoulli(1 - p) scaled by 1 / (1 - p) (inverted dropout), so evaluation needs no rescaling.
One exception, the cell site with `scale="output"` (Moon's RNNDrop, the default there): the mask inside the
recurrence is plain 0/1 and the 1 / (1 - p) is applied once, to h_t = o ⊙ tanh(c_t). A per-sequence 0/1
mask is idempotent (m ⊙ m = m), so a kept cell runs exactly as without dropout; an inverted mask inside the
recurrence would scale a kept cell by 1 / (1 - p) at every step, a factor that compounds over the sequence.
A dropout mask's *distribution* is Bernoulli (above) or Gaussian: ξ ~ N(1, α) with α = p / (1 − p)
(Srivastava et al. 2014 §10, the variance that matches Bernoulli dropout's at the same p); its mean is
already 1, so nothing is rescaled, and evaluation runs without it like Bernoulli dropout.

A rule may apply to some layers only (`layers=(0,)`: the first layer's sites), and a site may take one rule
per group of layers (a tuple of rules with disjoint `layers`): per-layer rates as AWD-LSTM tunes them.

A rule's p may be *learned* (Concrete dropout, Gal, Hron & Kendall 2017): p is then the initial value of a
rate rnnreg trains, one per site and layer; see rnnreg.learned.

Every unit mask has the shape (gates, batch, steps, units), with a 1 wherever the rule shares the mask:
    gates = 1 unless the rule is per gate (untied), batch = 1 for `scope="batch"`,
    steps = 1 for `per="sequence"` (one mask reused at every step of the sequence / BPTT window).
The weight_recurrent site's mask is over the entries of W_hh instead: (gates·units, units), one per forward
pass, shared by the batch and the steps (DropConnect as AWD-LSTM's WeightDrop does it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

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
                "scale": ("mask", "output"), "distribution": ("bernoulli", "gaussian")}

# Sites that exist once per layer (a rule there may name its `layers`); embedding and output exist once.
LAYER_SITES = ("input", "weight_recurrent", "recurrent", "candidate", "cell", "hidden")

# Sites whose rate can be learned: those whose mask meets a weight matrix directly (the Concrete dropout KL
# term's weight part is that matrix), and whose gradient every path computes.
LEARNABLE_SITES = ("embedding", "input", "recurrent", "output")


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
    # A dropout mask's distribution: Bernoulli(1 − p) / (1 − p), or Gaussian N(1, p / (1 − p)).
    distribution: Literal["bernoulli", "gaussian"] = "bernoulli"
    # The layers the rule applies to (0 = the first), on a per-layer site; None: every layer.
    layers: tuple[int, ...] | None = None
    # Concrete dropout: p is the initial value of a trained rate; the training mask is the relaxed Bernoulli
    # at this temperature (rnnreg.learned).
    learned: bool = False
    temperature: float = 0.1

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
        if self.distribution == "gaussian" and (self.kind != "dropout" or self.scale != "mask"):
            raise RnnregError("a Gaussian mask is multiplicative dropout: it takes kind='dropout' and scale='mask' "
                              f"(got kind={self.kind!r}, scale={self.scale!r})")
        if self.layers is not None:
            if (not isinstance(self.layers, tuple) or not self.layers
                    or any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in self.layers)
                    or len(set(self.layers)) != len(self.layers)):
                raise RnnregError(f"SiteRule layers must be a non-empty tuple of distinct layer numbers ≥ 0 "
                                  f"(0 is the first layer), got {self.layers!r}")
        if not isinstance(self.learned, bool):
            raise RnnregError(f"SiteRule learned must be true or false, got {self.learned!r}")
        if self.learned:
            if self.kind != "dropout" or self.distribution != "bernoulli" or self.scale != "mask" or self.per_gate:
                raise RnnregError("a learned rate is Concrete dropout's: a Bernoulli dropout rule, one rate shared "
                                  f"by the gates (got kind={self.kind!r}, distribution={self.distribution!r}, "
                                  f"scale={self.scale!r}, per_gate={self.per_gate!r})")
            if not 0.0 < self.p < 1.0:
                raise RnnregError(f"a learned rate starts inside (0, 1): its logit is trained; got p={self.p!r}")
        if (isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float))
                or not self.temperature > 0):
            raise RnnregError(f"SiteRule temperature must be a number > 0, got {self.temperature!r}")

    def describe(self) -> str:
        where = [] if self.layers is None else [f"layer{'s' if len(self.layers) > 1 else ''} "
                                                 + ", ".join(map(str, self.layers))]
        if self.kind == "zoneout":
            parts = [f"zoneout p={self.p:g} (keeps the previous value)", f"per {self.per}",
                     f"evaluation: the expectation, {1 - self.p:g}·new + {self.p:g}·previous"]
            return ", ".join(parts + (["shared by the batch"] if self.scope == "batch" else []) + where)
        if self.learned:
            parts = [f"learned p (from {self.p:g}; relaxed Bernoulli at t={self.temperature:g} in training, "
                     "Bernoulli in MC)"]
        elif self.distribution == "gaussian":
            parts = [f"Gaussian N(1, {self.p / (1 - self.p):.3g}) (p={self.p:g})"]
        else:
            parts = [f"p={self.p:g}"]
        parts.append(f"per {self.per}")
        if self.per_gate:
            parts.append("per gate")
        if self.scope == "batch":
            parts.append("shared by the batch")
        if self.scale == "output":
            parts.append("0/1 mask, 1/(1-p) on h = o·tanh(c)")
        return ", ".join(parts + where)


PlanValue = SiteRule | tuple[SiteRule, ...]


def rules_of(value: PlanValue) -> tuple[SiteRule, ...]:
    """A plan entry's rules: one rule, or one per group of layers."""
    return value if isinstance(value, tuple) else (value,)


def site_rules(plan: Mapping[str, PlanValue]) -> Iterator[tuple[str, SiteRule]]:
    """(site, rule) for every rule of a plan, in the plan's order."""
    for site, value in plan.items():
        for rule in rules_of(value):
            yield site, rule


def rule_at(plan: Mapping[str, PlanValue], site: str, layer: int = 0) -> SiteRule | None:
    """The rule a site follows at one layer, or None where the plan leaves it untouched."""
    for rule in rules_of(plan.get(site, ())):
        if rule.layers is None or layer in rule.layers:
            return rule
    return None


def check_plan(plan: object) -> dict[str, PlanValue]:
    """A plan is {site: SiteRule, or a tuple of SiteRules for disjoint layers} over the sites the model
    implements, each with a rule its site can take; anything else is an error, not a silently untouched site."""
    if not isinstance(plan, dict):
        raise RnnregError(f"plan() must return a dict of site → SiteRule, got {type(plan).__name__}")
    for site, value in plan.items():
        if site not in SITES:
            raise RnnregError(f"plan() names site {site!r}, which the model does not have (sites: {', '.join(SITES)})")
        if isinstance(value, tuple) and value and all(type(rule) is SiteRule for rule in value):
            check_layer_groups(site, value)
        elif type(value) is not SiteRule:
            raise RnnregError(f"plan() gives the {site} site a {type(value).__name__}, not a SiteRule (or a tuple "
                              "of SiteRules for disjoint layers)")
        for rule in rules_of(value):
            check_rule_at(site, rule)
    return plan


def check_layer_groups(site: str, rules: tuple[SiteRule, ...]) -> None:
    """Several rules on one site must each name their layers, no layer twice."""
    if site not in LAYER_SITES:
        raise RnnregError(f"the {site} site exists once, not per layer: give it one SiteRule without layers")
    if any(rule.scale == "output" for rule in rules):
        raise RnnregError("a cell rule with scale='output' scales h once for the whole model: give it one rule")
    seen: set[int] = set()
    for rule in rules:
        if rule.layers is None:
            raise RnnregError(f"the {site} site has {len(rules)} rules: each must name its layers (layers=(0,), ...)")
        if seen & set(rule.layers):
            raise RnnregError(f"the {site} site's rules both name layer {min(seen & set(rule.layers))}")
        seen |= set(rule.layers)


def check_rule_at(site: str, rule: SiteRule) -> None:
    """What one rule may do on one site."""
    if rule.scale == "output" and site != "cell":
        raise RnnregError(f"SiteRule scale='output' exists only on the cell site, not on {site!r}")
    if rule.kind not in SITE_KINDS[site]:
        raise RnnregError(f"the {site} site takes {' or '.join(SITE_KINDS[site])} rules, not {rule.kind!r}")
    if site == "weight_recurrent" and (rule.per, rule.scope, rule.per_gate) != ("sequence", "batch", False):
        raise RnnregError("the weight_recurrent site draws one mask over W_hh per forward pass, shared by the "
                          "batch: its rule must be SiteRule(p, per='sequence', scope='batch')")
    if rule.layers is not None and site not in LAYER_SITES:
        raise RnnregError(f"the {site} site exists once, not per layer: its rule takes no layers "
                          f"(per-layer sites: {', '.join(LAYER_SITES)})")
    if rule.learned and site not in LEARNABLE_SITES:
        raise RnnregError(f"the {site} site cannot learn its rate (learned rates: {', '.join(LEARNABLE_SITES)})")


def plan_fits(plan: Mapping[str, PlanValue], cell: str) -> bool:
    """Whether a plan's sites all exist in this cell: a GRU has no cell state c_t."""
    return "cell" not in plan or cell == "lstm"


def check_plan_fits(plan: Mapping[str, PlanValue], cell: str, num_layers: int | None = None) -> None:
    """The one place that says a GRU has no cell state, for every caller (runner, model, explain, bench),
    and that a rule's layers exist in the model."""
    if not plan_fits(plan, cell):
        raise RnnregError("the cell site (Moon's dropout, zoneout's p_cell) is the LSTM's cell state, which a GRU "
                          "does not have; for a GRU leave it out (zoneout: p_cell=0)")
    if num_layers is not None:
        for site, rule in site_rules(plan):
            missing = [k for k in rule.layers or () if k >= num_layers]
            if missing:
                raise RnnregError(f"the {site} site's rule names layer {missing[0]}, but the model has {num_layers} "
                                  f"layer{'s' if num_layers != 1 else ''} (0 to {num_layers - 1})")

