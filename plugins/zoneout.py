"""Zoneout (Krueger et al. 2016): each unit keeps its previous value with some probability, per step.

    c_t = d^c ⊙ c_{t-1} + (1 − d^c) ⊙ c̃_t,     h_t = d^h ⊙ h_{t-1} + (1 − d^h) ⊙ o_t ⊙ tanh(c̃_t)

with d ~ Bernoulli(p) fresh at every step and unit, c̃_t = f ⊙ c_{t-1} + i ⊙ g_t the cell the LSTM would
have written (h reads it, not the zoned-out cell, as in the paper's equations and teganmaharaj/zoneout's
TensorFlow wrapper). Nothing is rescaled. Evaluation uses the expectation, c_t = p·c_{t-1} + (1 − p)·c̃_t:
zoneout's rules are `kind="zoneout"`, whose evaluation behaviour rnnreg applies by itself.

A GRU has no cell: use `p_cell=0` there (zoneout on h only). Defaults: the paper's Penn Treebank setting,
z_c 0.5 and z_h 0.05.
"""

from rnnreg import Regularizer, SiteRule, hookimpl


class Zoneout(Regularizer):
    name = "zoneout"
    description = "Krueger et al. 2016: per step, units keep their previous c / h (evaluation: the expectation)."
    params = {"p_cell": 0.5, "p_hidden": 0.05, "per": "step"}
    choices = {"per": ("step", "sequence")}
    # Up to 0.95, not the default 0.8: zoneout keeps rather than drops, and in the 16-trial tuned-lm study
    # the best p_cell (0.785) and the runner-up (0.72) sat against the 0.8 bound.
    search_space = {"p_cell": (0.0, 0.95), "p_hidden": (0.0, 0.95)}

    def plan(self):
        plan = {"hidden": SiteRule(self.p_hidden, per=self.per, kind="zoneout")}
        if self.p_cell > 0:  # p_cell 0 leaves the cell site free (and lets a GRU run zoneout on h)
            plan["cell"] = SiteRule(self.p_cell, per=self.per, kind="zoneout")
        return plan


@hookimpl
def register_regularizers(register):
    register(Zoneout)
