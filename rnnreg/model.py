"""The recurrent model: embedding → stacked LSTM/GRU layers → head, with every dropout site explicit.

Read top to bottom: `Masks` (what one forward pass drops), `sample_masks` (drawn from a regularizer's
plan), `RecurrentLayer` (one layer, on the fused kernel when the masks allow it, else a fast step loop),
`RNNModel` (the stack and its head).

Weights are stored in `torch.nn.LSTM` / `torch.nn.GRU` modules, so with no masks a layer *is* the
PyTorch kernel, and the step loop computes exactly the same function (gates i, f, g, o / r, z, n).

Why one module of ~460 lines: like nanoGPT's model file, the model reads top to bottom in one place —
masks, a layer, the stack — and each part is used only by the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from rnnreg.dropout import LAYER_SITES, PlanValue, SiteRule, check_plan_fits, rule_at, site_rules
from rnnreg.errors import RnnregError
from rnnreg.fastloop import MaskedGRURecurrence, MaskedLSTMRecurrence
from rnnreg.learned import LearnedRate, logit, rate_key, relaxed_keep_mask
from rnnreg.masks import (
    at_step,
    evaluation_mask,
    mask_shape,
    sample_mask,
    sample_type_table,
    sample_weight_mask,
    type_mask_from_table,
)

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


@dataclass
class Masks:
    """Every mask of one forward pass (one sequence, or one BPTT window), sampled before the first step.

    Layer masks have the shape (gates|1, batch|1, steps|1, units) of `rnnreg.masks.sample_mask`, except
    `weight_recurrent`'s, which cover W_hh's entries; `None` means the site is untouched. `cell_zoneout` and
    `hidden` hold zoneout's u (1 = take the new value); at evaluation they hold its expectation 1 − p.
    """

    embedding: torch.Tensor | None = None  # (batch, steps, 1)
    input: list = field(default_factory=list)  # per layer
    recurrent: list = field(default_factory=list)  # per layer
    cell: list = field(default_factory=list)  # per layer (LSTM only): dropout on c_t
    output: torch.Tensor | None = None
    cell_output_scale: float = 1.0  # 1 / (1 - p) on h = o ⊙ tanh(c) for a 0/1 cell mask (scale="output")
    embedding_table: torch.Tensor | None = None  # (batch|1, vocab) keep/drop draws behind `embedding`
    weight_recurrent: list = field(default_factory=list)  # per layer: (gates·H, H) over W_hh
    candidate: list = field(default_factory=list)  # per layer
    cell_zoneout: list = field(default_factory=list)  # per layer (LSTM only): zoneout on c_t
    hidden: list = field(default_factory=list)  # per layer: zoneout on h_t

    STEP_MASKS = ("input", "recurrent", "cell", "candidate", "cell_zoneout", "hidden")

    def for_window(self, tokens: torch.Tensor) -> Masks:
        """The same draws for another window of the stream (MC evaluation keeps one set per pass): layer
        masks cut to the window's length, the embedding mask looked up from the same word-type table, the
        weight masks as they are."""
        steps = tokens.shape[1]
        cut = lambda m: None if m is None else m[:, :, :steps]  # noqa: E731  (per-sequence masks have 1 step)
        embedding = None
        if self.embedding_table is not None:
            embedding = type_mask_from_table(self.embedding_table, tokens)
        per_layer = {name: [cut(m) for m in getattr(self, name)] for name in self.STEP_MASKS}
        return Masks(embedding=embedding, output=cut(self.output), cell_output_scale=self.cell_output_scale,
                     embedding_table=self.embedding_table, weight_recurrent=list(self.weight_recurrent), **per_layer)

    def layer(self, k: int) -> dict:
        """Layer k's masks, as `RecurrentLayer.forward`'s keyword arguments."""
        pick = lambda masks_of_site: masks_of_site[k] if masks_of_site else None  # noqa: E731  (one-line helper)
        return {"input_mask": pick(self.input), "recurrent_mask": pick(self.recurrent), "cell_mask": pick(self.cell),
                "cell_output_scale": self.cell_output_scale if pick(self.cell) is not None else 1.0,
                "candidate_mask": pick(self.candidate), "cell_zoneout": pick(self.cell_zoneout),
                "hidden_zoneout": pick(self.hidden), "weight_mask": pick(self.weight_recurrent)}


def sample_masks(
    plan: dict[str, PlanValue],
    tokens: torch.Tensor,
    *,
    vocab_size: int,
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    skip: tuple[str, ...] = (),
    generator: torch.Generator | None = None,
    evaluation: bool = False,
    weights_hh: list | None = None,
    rates: dict[str, torch.Tensor] | None = None,
    relaxed: bool = False,
    fits_checked: bool = False,
) -> Masks:
    """The masks of one forward pass. `evaluation=True` gives what evaluation applies instead: nothing for
    dropout, zoneout's expectation. A skipped site behaves as at evaluation. `weights_hh` (per layer) are the
    matrices the weight_recurrent site masks. A learned rule's rate is `rates[rate_key(site, layer)]` (a
    logit): with `relaxed` (training) its mask is the differentiable Concrete relaxation, else Bernoulli at
    the rate's current value (MC)."""
    batch, steps = tokens.shape
    gates = len(GATES[cell])

    def current(rule: SiteRule, site: str, layer: int) -> SiteRule:
        """A learned rule as a fixed one at the rate's current value (for evaluation and MC)."""
        if not rule.learned:
            return rule
        value = torch.sigmoid(learned_logit(site, layer).detach()).item()
        return replace(rule, p=min(max(value, 0.0), 1.0 - 1e-6), learned=False)

    def learned_logit(site: str, layer: int) -> torch.Tensor:
        if rates is None or rate_key(site, layer) not in rates:
            raise RnnregError(f"the {site} site's rate is learned: sample_masks needs the model's rates")
        return rates[rate_key(site, layer)]

    def draw(site, units, layer=0, kind="dropout"):
        rule = rule_at(plan, site, layer)
        if rule is None or rule.kind != kind:
            return None
        if evaluation or site in skip:
            return evaluation_mask(rule, units, tokens.device)
        if rule.learned and relaxed:
            shape = mask_shape(rule, batch=batch, steps=steps, units=units, gates=gates)
            return relaxed_keep_mask(learned_logit(site, layer), shape, rule.temperature, tokens.device, generator)
        rule = current(rule, site, layer)
        if rule.p == 0 and kind == "dropout":
            return None  # an all-ones mask would only keep the fused kernel out
        return sample_mask(rule, batch=batch, steps=steps, units=units, gates=gates,
                           device=tokens.device, generator=generator)

    if not fits_checked:  # a model checked its plan once, when it was built: not again every window
        check_plan_fits(plan, cell, num_layers)
    masks = Masks()
    live = not evaluation
    embedding_rule = rule_at(plan, "embedding")
    if embedding_rule is not None and "embedding" not in skip and live:
        if embedding_rule.learned and relaxed:
            masks.embedding_table = relaxed_keep_mask(
                learned_logit("embedding", 0), (batch if embedding_rule.scope == "sample" else 1, vocab_size),
                embedding_rule.temperature, tokens.device, generator)
        else:
            masks.embedding_table = sample_type_table(current(embedding_rule, "embedding", 0), tokens.shape[0],
                                                      vocab_size, tokens.device, generator)
        masks.embedding = type_mask_from_table(masks.embedding_table, tokens)
    cell_rule = rule_at(plan, "cell")  # a scale="output" cell rule is one rule for every layer (check_plan)
    if (cell_rule is not None and "cell" not in skip and live and cell_rule.kind == "dropout"
            and cell_rule.scale == "output" and cell_rule.p > 0):
        masks.cell_output_scale = 1.0 / (1.0 - cell_rule.p)
    for layer in range(num_layers):
        masks.input.append(draw("input", input_size if layer == 0 else hidden_size, layer))
        masks.recurrent.append(draw("recurrent", hidden_size, layer))
        masks.cell.append(draw("cell", hidden_size, layer))
        masks.candidate.append(draw("candidate", hidden_size, layer))
        masks.cell_zoneout.append(draw("cell", hidden_size, layer, kind="zoneout"))
        masks.hidden.append(draw("hidden", hidden_size, layer, kind="zoneout"))
        weight_rule = rule_at(plan, "weight_recurrent", layer)
        if "weight_recurrent" in plan and live and "weight_recurrent" not in skip:
            if weight_rule is None or weight_rule.p == 0:
                masks.weight_recurrent.append(None)
                continue
            if weights_hh is None:
                raise RnnregError("the weight_recurrent site needs the layers' W_hh (weights_hh) to mask")
            masks.weight_recurrent.append(sample_weight_mask(weight_rule, weights_hh[layer], generator))
    masks.output = draw("output", hidden_size)
    return masks


class RecurrentLayer(nn.Module):
    def __init__(self, cell: str, input_size: int, hidden_size: int):
        super().__init__()
        self.cell, self.hidden_size = cell, hidden_size
        self.gates = len(GATES[cell])
        kernel = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = kernel(input_size, hidden_size, batch_first=True)

    # The weights live in the torch module, so that without masks the layer *is* its kernel.
    @property
    def weight_ih(self) -> torch.Tensor:
        return self.rnn.get_parameter("weight_ih_l0")

    @property
    def weight_hh(self) -> torch.Tensor:
        return self.rnn.get_parameter("weight_hh_l0")

    @property
    def bias_ih(self) -> torch.Tensor:
        return self.rnn.get_parameter("bias_ih_l0")

    @property
    def bias_hh(self) -> torch.Tensor:
        return self.rnn.get_parameter("bias_hh_l0")

    def forward(self, x, state, input_mask=None, recurrent_mask=None, cell_mask=None, force_loop=False,
                cell_output_scale=1.0, *, candidate_mask=None, cell_zoneout=None, hidden_zoneout=None,
                weight_mask=None):
        """Fused kernel when the masks allow it; else the fast step loop; `force_loop` runs the reference.

        `cell_output_scale` κ multiplies h = o ⊙ tanh(c) (Moon with a 0/1 cell mask): the layer's h, its
        outputs and its carried state, are κ·o·tanh(c) throughout. `weight_mask` multiplies W_hh entrywise
        (weight-drop): every path runs on that masked copy of the weight."""
        inside = {"candidate_mask": candidate_mask, "cell_zoneout": cell_zoneout, "hidden_zoneout": hidden_zoneout}
        weight_hh = self.weight_hh if weight_mask is None else self.weight_hh * weight_mask
        if force_loop:
            return self.loop(x, state, input_mask, recurrent_mask, cell_mask, cell_output_scale, weight_hh, **inside)
        if self.fused_can_run(input_mask, recurrent_mask, cell_mask, *inside.values()):
            return self.fused(x, state, input_mask, recurrent_mask, weight_hh)
        if self.cell == "lstm":
            return self.fast_lstm(x, state, input_mask, recurrent_mask, cell_mask, cell_output_scale, weight_hh,
                                  **inside)
        return self.fast_gru(x, state, input_mask, recurrent_mask, weight_hh, candidate_mask, hidden_zoneout)

    @staticmethod
    def fused_can_run(input_mask, recurrent_mask, cell_mask, *inside_masks) -> bool:
        # The kernel cannot see inside the recurrence, so only masks that fold into the weights or into
        # the input sequence are allowed: per-gate input masks and recurrent masks must be shared by the
        # whole batch and the whole sequence ((h ⊙ z) U = h (diag(z) U)). Cell, candidate and zoneout masks
        # act inside the step.
        def batch_shared(mask):
            return mask.shape[1] == 1 and mask.shape[2] == 1

        return (
            cell_mask is None
            and all(mask is None for mask in inside_masks)
            and (recurrent_mask is None or batch_shared(recurrent_mask))
            and (input_mask is None or input_mask.shape[0] == 1 or batch_shared(input_mask))
        )

    def fused(self, x, state, input_mask, recurrent_mask, weight_hh):
        w_ih, w_hh = self.weight_ih, weight_hh
        if input_mask is not None and input_mask.shape[0] == 1:
            x = x * input_mask[0]
        elif input_mask is not None:
            w_ih = self.fold_columns(w_ih, input_mask)
        if recurrent_mask is not None:
            w_hh = self.fold_columns(w_hh, recurrent_mask)
        weights = [w_ih, w_hh, self.bias_ih, self.bias_hh]
        # torch.lstm / torch.gru are the kernels behind nn.LSTM / nn.GRU (oneDNN or cuDNN), called with
        # explicit weights so that masked copies of them can stand in for one call.
        zeros = x.new_zeros(1, x.shape[0], self.hidden_size)
        if self.cell == "lstm":
            hx = state if state is not None else (zeros, zeros)
            out, h, c = torch.lstm(x, hx, weights, True, 1, 0.0, self.training, False, True)
            return out, (h, c)
        out, h = torch.gru(x, state if state is not None else zeros, weights, True, 1, 0.0, self.training, False, True)
        return out, h

    def fold_columns(self, weight, mask):
        # weight: (gates*H, in); mask: (gates|1, 1, 1, in) → scale each gate's columns by its mask.
        rows = weight.view(self.gates, self.hidden_size, -1) * mask.view(mask.shape[0], 1, -1)
        return rows.reshape(weight.shape)

    def input_projections(self, x, input_mask, bias):
        """x W_ih^T + bias for every step in one GEMM (one per gate when the input masks are untied)."""
        batch, steps, _ = x.shape
        if input_mask is None or input_mask.shape[0] == 1:
            xin = x if input_mask is None else x * input_mask[0]
            return F.linear(xin, self.weight_ih, bias)
        w = self.weight_ih.view(self.gates, self.hidden_size, -1)
        xproj = torch.einsum("gbti,ghi->btgh", x.unsqueeze(0) * input_mask, w)
        return xproj.reshape(batch, steps, self.gates * self.hidden_size) + bias

    def fast_lstm(self, x, state, input_mask, recurrent_mask, cell_mask, cell_output_scale, weight_hh, **inside):
        xproj = self.input_projections(x, input_mask, self.bias_ih + self.bias_hh)
        if state is None:
            h0 = c0 = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            h0, c0 = state[0][0], state[1][0]
        kappa = cell_output_scale
        if kappa != 1.0:
            # The loop computes h̃ = o ⊙ tanh(c); the layer's h is κ h̃, so (κ h̃) U = h̃ (κ U). Zoneout's
            # update is linear in h, so it commutes with κ.
            weight_hh, h0 = weight_hh * kappa, h0 / kappa
        out, h, c = MaskedLSTMRecurrence.apply(xproj.transpose(0, 1), h0, c0, weight_hh, recurrent_mask, cell_mask,
                                               inside["candidate_mask"], inside["cell_zoneout"],
                                               inside["hidden_zoneout"])
        if kappa != 1.0:
            out, h = out * kappa, h * kappa
        return out.transpose(0, 1), (h.unsqueeze(0), c.unsqueeze(0))

    def fast_gru(self, x, state, input_mask, recurrent_mask, weight_hh, candidate_mask, hidden_zoneout):
        H = self.hidden_size
        # b_hr and b_hz add like b_ih; b_hn stays inside the recurrence, where r scales it.
        xproj = self.input_projections(x, input_mask, self.bias_ih + F.pad(self.bias_hh[:2 * H], (0, H)))
        h0 = x.new_zeros(x.shape[0], H) if state is None else state[0]
        out, h = MaskedGRURecurrence.apply(xproj.transpose(0, 1), h0, weight_hh, self.bias_hh[2 * H:],
                                           recurrent_mask, candidate_mask, hidden_zoneout)
        return out.transpose(0, 1), h.unsqueeze(0)

    def loop(self, x, state, input_mask, recurrent_mask, cell_mask, cell_output_scale=1.0, weight_hh=None, *,
             candidate_mask=None, cell_zoneout=None, hidden_zoneout=None):
        """The reference step loop, differentiated by autograd: the definition the fast paths must match."""
        H = self.hidden_size
        weight_hh = self.weight_hh if weight_hh is None else weight_hh
        batch, steps, _ = x.shape
        xproj = self.input_projections(x, input_mask, self.bias_ih)

        def zoneout(previous, new, u):  # keep the previous value where u = 0; u = 1 − p at evaluation
            return new if u is None else previous + u[0] * (new - previous)

        if self.cell == "lstm":
            h, c = (s[0] for s in state) if state is not None else (x.new_zeros(batch, H),) * 2
        else:
            h = state[0] if state is not None else x.new_zeros(batch, H)
        outputs = []
        for t in range(steps):
            hproj = self.recurrent_projection(h, at_step(recurrent_mask, t), weight_hh)
            k = at_step(candidate_mask, t)
            if self.cell == "lstm":
                i, f, g, o = (xproj[:, t] + hproj).chunk(4, 1)
                g = torch.tanh(g) if k is None else torch.tanh(g) * k[0]
                new_c = torch.sigmoid(f) * c + torch.sigmoid(i) * g
                m = at_step(cell_mask, t)
                if m is not None:
                    new_c = new_c * m[0]
                new_h = torch.sigmoid(o) * torch.tanh(new_c) * cell_output_scale
                c = zoneout(c, new_c, at_step(cell_zoneout, t))
            else:
                xr, xz, xn = xproj[:, t].chunk(3, 1)
                hr, hz, hn = hproj.chunk(3, 1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                n = torch.tanh(xn + r * hn)
                if k is not None:
                    n = n * k[0]
                new_h = (1 - z) * n + z * h  # the unmasked h carries over, as in Gal's GRU
            h = zoneout(h, new_h, at_step(hidden_zoneout, t))
            outputs.append(h)
        out = torch.stack(outputs, 1)
        new_state = (h.unsqueeze(0), c.unsqueeze(0)) if self.cell == "lstm" else h.unsqueeze(0)
        return out, new_state

    def recurrent_projection(self, h, mask, weight_hh):
        if mask is None:
            return F.linear(h, weight_hh, self.bias_hh)
        if mask.shape[0] == 1:
            return F.linear(h * mask[0], weight_hh, self.bias_hh)
        # Untied: each gate sees h through its own mask; one batched GEMM over the gates.
        w = weight_hh.view(self.gates, self.hidden_size, -1)
        per_gate = torch.bmm(h.unsqueeze(0) * mask, w.transpose(1, 2))  # (gates, batch, H)
        return per_gate.transpose(0, 1).reshape(h.shape[0], -1) + self.bias_hh


class RNNModel(nn.Module):
    """Embedding → `num_layers` recurrent layers → linear head.

    readout="all" gives one prediction per step (language modelling); "last" one per sequence, read at
    the final step (sequences are left-padded, so the final step is always a real token).
    """

    def __init__(self, vocab_size, hidden_size, num_layers, outputs, *, cell="lstm", embed_size=None,
                 readout="all", init_scale=None, plan=None):
        super().__init__()
        if cell not in GATES:
            raise ValueError(f"cell must be one of {', '.join(GATES)}, got {cell!r}")
        embed_size = embed_size or hidden_size
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.cell, self.embed_size, self.readout = cell, embed_size, readout
        self.plan = plan or {}
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.layers = nn.ModuleList(
            RecurrentLayer(cell, embed_size if k == 0 else hidden_size, hidden_size) for k in range(num_layers)
        )
        self.head = nn.Linear(hidden_size, outputs)
        if init_scale is not None:  # Zaremba et al.: every parameter uniform in ±init_scale
            for param in self.parameters():
                nn.init.uniform_(param, -init_scale, init_scale)
        # Learned rates (Concrete dropout), one logit per site and layer, created after the weights so that
        # a plan without them leaves every weight's initialisation as it was.
        check_plan_fits(self.plan, cell, num_layers)
        # N, the training examples the task loss averages over, for the Concrete KL term (LearnedRate); the
        # trainer sets it from the data.
        self.training_examples = 1
        self.rates = nn.ParameterDict({
            key.replace(".", "_"): nn.Parameter(torch.tensor(logit(rule.p)))
            for key, rule in self.learned_rules().items()
        })

    def learned_rules(self) -> dict[str, SiteRule]:
        """rate_key → rule for every site and layer whose rate is trained."""
        found = {}
        for site, rule in site_rules(self.plan):
            if rule.learned:
                layers = (rule.layers or range(self.num_layers)) if site in LAYER_SITES else (0,)
                found.update({rate_key(site, layer): rule for layer in layers})
        return found

    def rate_logits(self) -> dict[str, torch.Tensor]:
        """rate_key → the trained logit of p."""
        return {key: self.rates[key.replace(".", "_")] for key in self.learned_rules()}

    def learned_rates(self) -> dict[str, float]:
        """rate_key → the current p, for curves and results."""
        return {key: torch.sigmoid(value.detach()).item() for key, value in self.rate_logits().items()}

    def weights(self) -> list[nn.Parameter]:
        """The parameters the task's optimizer trains, weight decay shrinks and clipping bounds: all but the
        learned rates (their own optimizer trains them, rnnreg.learned)."""
        rates = {id(value) for value in self.rates.parameters()}
        return [param for param in self.parameters() if id(param) not in rates]

    def rate_inputs(self) -> list[LearnedRate]:
        """What a penalty naming `learned_rates` receives: each rate with the weight its mask meets."""
        def weight_and_units(site: str, layer: int) -> tuple[torch.Tensor, int]:
            if site == "embedding":
                return self.embedding.weight, self.vocab_size
            if site == "output":
                return self.head.weight, self.hidden_size
            module = cast(RecurrentLayer, self.layers[layer])
            if site == "input":
                return module.weight_ih, self.embed_size if layer == 0 else self.hidden_size
            return module.weight_hh, self.hidden_size

        found = []
        for key, value in self.rate_logits().items():
            site, layer = key.split(".")
            weight, units = weight_and_units(site, int(layer))
            found.append(LearnedRate(site, int(layer), torch.sigmoid(value), weight, units, self.training_examples))
        return found

    def sample_masks(self, tokens, skip=(), generator=None, evaluation=False) -> Masks:
        return sample_masks(self.plan, tokens, vocab_size=self.vocab_size, cell=self.cell,
                            input_size=self.embed_size, hidden_size=self.hidden_size,
                            num_layers=self.num_layers, skip=skip, generator=generator, evaluation=evaluation,
                            weights_hh=[layer.weight_hh for layer in self.layers],
                            rates=self.rate_logits(), relaxed=self.training, fits_checked=True)

    def forward(self, tokens, state=None, masks: Masks | None = None, activations: dict | None = None):
        """tokens (batch, steps) → (predictions, state). Pass `masks` to drop; None evaluates: no dropout,
        and zoneout's expectation where the plan has zoneout.

        With an `activations` dict, fills in what a regularizer's penalty may ask for (all (batch, steps, H)):
        `output` the top layer's output at every step, `dropped_output` the same after the output site's
        mask, `layer_outputs` every layer's output."""
        masks = masks if masks is not None else self.sample_masks(tokens, evaluation=True)
        x = self.embedding(tokens)
        if masks.embedding is not None:
            x = x * masks.embedding
        new_state, layer_outputs = [], []
        for k, layer in enumerate(self.layers):
            x, s = layer(x, None if state is None else state[k], **masks.layer(k))
            new_state.append(s)
            layer_outputs.append(x)
        if activations is not None:
            activations.update(output=x, layer_outputs=layer_outputs,
                               dropped_output=x if masks.output is None else x * masks.output[0],
                               learned_rates=self.rate_inputs())
        if self.readout == "last":
            x = x[:, -1:]
        if masks.output is not None:
            x = x * (masks.output[0] if x.shape[1] == masks.output.shape[2] else masks.output[0, :, -1:])
        out = self.head(x)
        return (out if self.readout == "all" else out[:, 0]), new_state


def detach_state(state):
    """Cut the graph between BPTT windows, keeping the values (the state is carried across batches)."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    return [detach_state(s) for s in state] if isinstance(state, list) else tuple(detach_state(s) for s in state)
