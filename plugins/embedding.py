"""Word-type embedding dropout (Gal & Ghahramani 2016): drop whole word types per sequence.

"the dog and the cat" becomes "— dog and — cat", never "— dog and the cat". It composes with any
regularizer that leaves the embedding site alone: `variational+embedding`, `moon+embedding`.
"""

from rnnreg import Regularizer, SiteRule, hookimpl


class EmbeddingDropout(Regularizer):
    name = "embedding"
    description = "Gal & Ghahramani 2016: per-sequence dropout of word types in the embedding."
    params = {"p": 0.3}  # the paper's large PTB model

    def plan(self):
        return {"embedding": SiteRule(self.p, per="sequence")}


@hookimpl
def register_regularizers(register):
    register(EmbeddingDropout)
