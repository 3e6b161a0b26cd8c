"""Weight-drop (DropConnect on W_hh, as AWD-LSTM's WeightDrop; Merity et al. 2017).

One inverted-dropout mask over the entries of every layer's hidden-to-hidden matrix, drawn once per forward
pass (per BPTT window), shared by the batch and every step; no mask at evaluation, sampled by MC dropout.
Because it only changes a weight, the fused kernel runs on the masked copy of W_hh: the regularizer costs
one mask draw and one multiply per layer and window.
"""

from rnnreg import Regularizer, SiteRule, hookimpl


class WeightDrop(Regularizer):
    name = "weight-drop"
    description = "Merity et al. 2017 (AWD-LSTM): DropConnect on W_hh, one mask per forward pass, fused kernel."
    params = {"p": 0.5}  # AWD-LSTM's wdrop

    def plan(self):
        return {"weight_recurrent": SiteRule(self.p, per="sequence", scope="batch")}


@hookimpl
def register_regularizers(register):
    register(WeightDrop)
