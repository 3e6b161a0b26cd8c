"""Zaremba et al. (2014): dropout on the non-recurrent connections only, fresh at every step."""

from rnnreg import Regularizer, SiteRule, hookimpl


class ZarembaDropout(Regularizer):
    name = "zaremba"
    description = "Zaremba et al. 2014: per-step masks on layer inputs and outputs, never on h_{t-1}."
    params = {"p_input": 0.5, "p_output": 0.5}  # the medium model's 0.5

    def plan(self):
        return {
            "input": SiteRule(self.p_input, per="step"),
            "output": SiteRule(self.p_output, per="step"),
        }


@hookimpl
def register_regularizers(register):
    register(ZarembaDropout)
