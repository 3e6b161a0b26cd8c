"""Naive dropout: a fresh mask at every time step on inputs, recurrent state and outputs."""

from rnnreg import Regularizer, SiteRule, hookimpl


class NaiveDropout(Regularizer):
    name = "naive"
    description = "Fresh masks at every step on layer inputs, h_{t-1} and outputs (the heuristic that fails)."
    params = {"p_input": 0.5, "p_recurrent": 0.5, "p_output": 0.5}

    def plan(self):
        return {
            "input": SiteRule(self.p_input, per="step"),
            "recurrent": SiteRule(self.p_recurrent, per="step"),
            "output": SiteRule(self.p_output, per="step"),
        }


@hookimpl
def register_regularizers(register):
    register(NaiveDropout)
