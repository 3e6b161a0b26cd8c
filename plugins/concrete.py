"""Concrete dropout (Gal, Hron & Kendall 2017) on the variational sites: the dropout rates are trained.

The sites and masks are variational dropout's (one mask per sequence on the layer inputs, on h_{t-1} and
on the output), but each site's p, one per layer, is a parameter rnnreg trains (`SiteRule(learned=True)`,
rnnreg.learned): the training mask is the relaxed Bernoulli at temperature `temperature`, evaluation
applies its expectation, MC draws real Bernoulli masks at the learned p. The p_* parameters are where the
rates start.

The loss gains the paper's KL term, per site and layer k, W_k the weight its mask meets, D_k its units:

    weight_regularizer · ‖W_k‖² / (1 − p_k)  +  dropout_regularizer · D_k · (p_k log p_k + (1 − p_k) log(1 − p_k))

with the paper's coefficients tied to the data size: weight_regularizer = l² / (τN), dropout_regularizer =
2 / (τN), N the training examples the task loss averages over (tokens for a language model, sequences
otherwise), l the prior length-scale (`length_scale`, 1e-4 as in the paper's examples) and τ the model
precision (`precision`, 1). The entropy part is what keeps p from collapsing to 0 (the task loss alone
always prefers less noise), the 1 / (1 − p) of the weight part what keeps it from reaching 1; the more
data, the smaller both, and the lower the rates training settles on.
"""

from rnnreg import Regularizer, SiteRule, hookimpl


class ConcreteDropout(Regularizer):
    name = "concrete"
    description = "Gal, Hron & Kendall 2017: variational sites with trained rates (relaxed Bernoulli + KL term)."
    params = {"p_input": 0.5, "p_recurrent": 0.3, "p_output": 0.5, "temperature": 0.1, "length_scale": 1e-4,
              "precision": 1.0}
    search_space = {"temperature": None, "length_scale": None, "precision": None}

    def plan(self):
        def rule(p):
            return SiteRule(p, per="sequence", learned=True, temperature=self.temperature)

        return {"input": rule(self.p_input), "recurrent": rule(self.p_recurrent), "output": rule(self.p_output)}

    def penalty(self, *, learned_rates):
        import torch  # here, not at the top: loading plugins to read results needs no torch

        terms = []
        for rate in learned_rates:
            p, n = rate.p, self.precision * rate.examples
            weight = self.length_scale**2 / n * rate.weight.pow(2).sum() / (1 - p)
            entropy = 2 / n * rate.units * (p * torch.log(p) + (1 - p) * torch.log1p(-p))
            terms.append(weight + entropy)
        return torch.stack(terms).sum() if terms else torch.zeros(())


@hookimpl
def register_regularizers(register):
    register(ConcreteDropout)
