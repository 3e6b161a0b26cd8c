"""The masks a plan's rules sample (their semantics: rnnreg.dropout), each of shape
(gates|1, batch|1, steps|1, units), the weight_recurrent site's over W_hh's entries, word-type dropout's as a
(batch|1, vocab) table looked up per token. Kept apart from the plan so that declaring a regularizer, and
reading results, need no torch."""

from __future__ import annotations

import torch

from rnnreg.dropout import SiteRule


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
    """A mask of shape (gates|1, batch|1, steps|1, units) following `rule`: inverted dropout, a Gaussian
    mask, a 0/1 cell mask (scale="output"), or zoneout's u (1 = take the new value, with probability 1 − p)."""
    shape = mask_shape(rule, batch=batch, steps=steps, units=units, gates=gates)
    if rule.distribution == "gaussian":
        return gaussian_mask(shape, rule.p, device, generator)
    return keep_mask(shape, 1.0 - rule.p, device, generator, inverted=rule.kind == "dropout" and rule.scale == "mask")


def mask_shape(rule: SiteRule, *, batch: int, steps: int, units: int, gates: int = 1) -> tuple[int, int, int, int]:
    """(gates|1, batch|1, steps|1, units): a 1 wherever the rule shares one draw."""
    return (gates if rule.per_gate else 1, batch if rule.scope == "sample" else 1,
            steps if rule.per == "step" else 1, units)


def gaussian_mask(shape: tuple[int, ...] | torch.Size, p: float, device: torch.device | str | None,
                  generator: torch.Generator | None) -> torch.Tensor:
    """ξ ~ N(1, p / (1 − p)): Gaussian dropout's multiplier, with Bernoulli dropout's variance at the same p."""
    noise = torch.randn(shape, device=device, generator=generator)
    return noise.mul_((p / (1.0 - p)) ** 0.5).add_(1.0)


def evaluation_mask(rule: SiteRule, units: int, device: torch.device | str | None = None) -> torch.Tensor | None:
    """What a site applies at evaluation: nothing for dropout, zoneout's expectation u = 1 − p."""
    if rule.kind != "zoneout":
        return None
    return torch.full((1, 1, 1, units), 1.0 - rule.p, device=device)


def sample_weight_mask(rule: SiteRule, weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """An inverted-dropout (or Gaussian) mask over the entries of a weight matrix (weight_recurrent's DropConnect)."""
    if rule.distribution == "gaussian":
        return gaussian_mask(weight.shape, rule.p, weight.device, generator)
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
    looks it up at each token, so "the" is either kept everywhere in a sequence or dropped everywhere (with
    a Gaussian rule: scaled by one draw everywhere).
    """
    shape = (batch if rule.scope == "sample" else 1, vocab_size)
    if rule.distribution == "gaussian":
        return gaussian_mask(shape, rule.p, device, generator)
    return keep_mask(shape, 1.0 - rule.p, device, generator)


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
