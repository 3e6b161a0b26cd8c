"""Norm-stabilizer (Krueger & Memisevic 2016, "Regularizing RNNs by Stabilizing Activations") as a plugin.

    beta · mean over layers and steps of (‖h_t‖₂ − ‖h_{t−1}‖₂)²

on every layer's undropped output: it asks for `layer_outputs` by naming it, and rnnreg passes exactly that,
in training only. It has no mask (no plan), so it composes with any dropout: `variational+norm-stabilizer`.
"""

import rnnreg
from rnnreg import Regularizer


class NormStabilizer(Regularizer):
    name = "norm-stabilizer"
    description = "Krueger & Memisevic 2016: beta · mean((‖h_t‖ − ‖h_{t−1}‖)²) over every layer, a loss term."
    params = {"beta": 50.0}  # a starting point: the paper sweeps beta; choose it with `--param beta=10,50,200`

    def penalty(self, *, layer_outputs):
        terms = []
        for h in layer_outputs:  # (batch, steps, hidden)
            norms = h.norm(dim=-1)
            terms.append((norms[:, 1:] - norms[:, :-1]).pow(2).mean())
        return self.beta * sum(terms) / len(terms)


@rnnreg.hookimpl
def register_regularizers(register):
    register(NormStabilizer)
