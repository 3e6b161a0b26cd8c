"""Learned dropout rates: Concrete dropout (Gal, Hron & Kendall 2017) on any site a plan marks `learned`.

A rule `SiteRule(p, learned=True)` makes p the initial value of a rate the model trains, one per site and
layer, kept as its logit (an unconstrained `nn.Parameter` in `RNNModel.rates`). What each pass applies:

    training     the relaxed (Concrete) Bernoulli, differentiable in p: with u ~ U(0, 1) and temperature t,
                     d = sigmoid((log p − log(1 − p) + log u − log(1 − u)) / t)      (≈ 1 where dropped)
                     mask = (1 − d) / (1 − p)                                        (inverted, like Bernoulli)
    evaluation   the expectation: the identity, as for Bernoulli dropout;
    MC           real Bernoulli masks at the current p (sampled without a gradient).

The Concrete dropout paper's regularization term (its KL, per site and layer k with weight matrix W_k and
D_k dropped units) is

    weight_regularizer · ‖W_k‖² / (1 − p_k)  +  dropout_regularizer · D_k · (p_k log p_k + (1 − p_k) log(1 − p_k))

with weight_regularizer = l² / (τN) and dropout_regularizer = 2 / (τN) for N training examples.

It is a regularizer's *penalty*, like AR/TAR's: a penalty that names `learned_rates` receives one
`LearnedRate` per trained rate (the built-in `concrete` writes the term above). The rates are trained by
their own Adam optimizer (`RATE_LR`), whatever the task's optimizer: a logit moves on its own scale, which
SGD at a language model's learning rate of 1–20 would not respect; weight decay never touches them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# The rates' Adam learning rate: a logit moves at most ~0.01 per step, so a few hundred steps can move p
# anywhere in (0, 1) and a single minibatch cannot.
RATE_LR = 1e-2
# Keeps log u and log(1 − u) finite.
EPSILON = 1e-7


def logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


@dataclass(frozen=True)
class LearnedRate:
    """One trained rate, as a penalty receives it: the site and layer, p (a 0-dim tensor with gradient), the
    weight matrix its mask meets, how many units the mask covers (D in the paper's entropy term), and N, the
    number of training examples the task loss averages over (tokens for a language model, sequences for a
    classifier or regressor), to which the paper ties the KL term's coefficients."""

    site: str
    layer: int
    p: torch.Tensor
    weight: torch.Tensor
    units: int
    examples: int

    @property
    def key(self) -> str:
        return rate_key(self.site, self.layer)


def rate_key(site: str, layer: int) -> str:
    """How results, curves and the board name a rate: `recurrent.0` is the first layer's recurrent site."""
    return f"{site}.{layer}"


def relaxed_keep_mask(rate_logit: torch.Tensor, shape: tuple[int, ...], temperature: float,
                      device: torch.device | str | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """The Concrete relaxation of an inverted Bernoulli(1 − p) mask, differentiable in p = sigmoid(logit)."""
    u = torch.rand(shape, device=device, dtype=rate_logit.dtype, generator=generator).clamp_(EPSILON, 1.0 - EPSILON)
    dropped = torch.sigmoid((rate_logit + torch.log(u) - torch.log1p(-u)) / temperature)
    return (1.0 - dropped) / (1.0 - torch.sigmoid(rate_logit))


class WithRates:
    """The task's optimizer for the weights and an Adam of its own for the learned rates, stepped together.

    It behaves as the task's optimizer everywhere rnnreg touches one: `param_groups` are the weights' (the
    learning-rate schedule sets them), and `state_dict` carries both, so a checkpoint resumes both."""

    def __init__(self, weights: torch.optim.Optimizer, rates: list[torch.nn.Parameter], lr: float = RATE_LR):
        self.weights = weights
        self.rates = torch.optim.Adam(rates, lr=lr)

    @property
    def param_groups(self) -> list[dict]:
        return self.weights.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.weights.zero_grad(set_to_none=set_to_none)
        self.rates.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.weights.step()
        self.rates.step()

    def state_dict(self) -> dict:
        return {"weights": self.weights.state_dict(), "rates": self.rates.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.weights.load_state_dict(state_dict["weights"])
        self.rates.load_state_dict(state_dict["rates"])
