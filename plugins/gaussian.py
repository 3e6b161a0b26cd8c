"""Gaussian dropout (Srivastava et al. 2014 §10), drawn as variational dropout draws its masks.

Each unit is multiplied by ξ ~ N(1, α) with α = p / (1 − p) — the variance of an inverted Bernoulli mask at
the same p, with its mean already 1, so nothing is rescaled; evaluation runs without noise. As in Gal &
Ghahramani's variational dropout, one ξ per sequence and unit, reused at every step, on the layer inputs,
on h_{t-1} where it meets W_hh, and on the output. Defaults: the variational row's rates.
"""

from rnnreg import Regularizer, SiteRule, hookimpl


class GaussianDropout(Regularizer):
    name = "gaussian"
    description = "Gaussian masks N(1, p/(1-p)), one per sequence, on layer inputs, h_{t-1} and outputs."
    params = {"p_input": 0.5, "p_recurrent": 0.3, "p_output": 0.5, "per": "sequence"}
    choices = {"per": ("sequence", "step")}

    def plan(self):
        def rule(p):
            return SiteRule(p, per=self.per, distribution="gaussian")

        return {"input": rule(self.p_input), "recurrent": rule(self.p_recurrent), "output": rule(self.p_output)}


@hookimpl
def register_regularizers(register):
    register(GaussianDropout)
