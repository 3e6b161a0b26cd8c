"""Recurrent dropout without memory loss (Semeniuta, Severyn & Barth 2016): dropout on the candidate only.

    LSTM: c_t = f ⊙ c_{t-1} + i ⊙ (m ⊙ g_t)        GRU: h_t = (1 − z) ⊙ (m ⊙ n_t) + z ⊙ h_{t-1}

The mask never touches c_{t-1} (or h_{t-1}'s carried path), so what the cell remembers is never erased,
and an inverted mask on the candidate does not compound over steps as one on the cell would (their §3).
A fresh mask per step by default, as in the paper; `per: sequence` draws one per sequence. No mask at
evaluation. It composes with dropout on the layer inputs and outputs (`semeniuta+zaremba`), as the paper's
language models use it.
"""

from rnnreg import Regularizer, SiteRule, hookimpl


class SemeniutaDropout(Regularizer):
    name = "semeniuta"
    description = "Semeniuta et al. 2016: dropout on the candidate g_t (GRU: n_t) only, c_t keeps its memory."
    # 0.25: the lower of the two rates the paper's word-level language models compare (0.25, 0.5).
    params = {"p": 0.25, "per": "step"}
    choices = {"per": ("step", "sequence")}

    def plan(self):
        return {"candidate": SiteRule(self.p, per=self.per)}


@hookimpl
def register_regularizers(register):
    register(SemeniutaDropout)
