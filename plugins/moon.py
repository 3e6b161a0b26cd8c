"""RNNDrop (Moon et al. 2015): one mask per sequence on the LSTM cell, plus Zaremba-style dropout."""

from rnnreg import Regularizer, SiteRule, hookimpl


class MoonDropout(Regularizer):
    name = "moon"
    description = "Moon et al. 2015 (RNNDrop): a per-sequence mask on the cell c_t, per-step masks on inputs and outputs."
    params = {"p_input": 0.5, "p_cell": 0.5, "p_output": 0.5}

    def plan(self):
        return {
            "input": SiteRule(self.p_input, per="step"),
            "cell": SiteRule(self.p_cell, per="sequence"),
            "output": SiteRule(self.p_output, per="step"),
        }


@hookimpl
def register_regularizers(register):
    register(MoonDropout)
