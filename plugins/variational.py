"""Variational dropout (Gal & Ghahramani 2016): one mask per sequence, reused at every step.

Tied (default): one mask for all gates. `untied: true`: a separate mask per gate (i, f, g, o / r, z, n).
`mask_scope: batch` shares each mask across the minibatch, which lets the fused kernel run (the mask on
h_{t-1} becomes a mask on the columns of U); it is a different estimator and gets its own leaderboard row.
Defaults are the paper's large PTB model: inputs 0.5, recurrent 0.3, outputs 0.5.
"""

from rnnreg import Regularizer, SiteRule, hookimpl


class VariationalDropout(Regularizer):
    name = "variational"
    description = "Gal & Ghahramani 2016: one mask per sequence on layer inputs, h_{t-1} and outputs."
    params = {"p_input": 0.5, "p_recurrent": 0.3, "p_output": 0.5, "untied": False, "mask_scope": "sample"}
    choices = {"mask_scope": ("sample", "batch")}

    def plan(self):
        def rule(p, gated):
            return SiteRule(p, per="sequence", per_gate=gated and self.untied, scope=self.mask_scope)

        return {
            "input": rule(self.p_input, gated=True),
            "recurrent": rule(self.p_recurrent, gated=True),
            "output": rule(self.p_output, gated=False),
        }


@hookimpl
def register_regularizers(register):
    register(VariationalDropout)
