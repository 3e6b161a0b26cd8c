"""A complete third-party regularizer: variational dropout on h_{t-1} only, nowhere else."""

import rnnreg
from rnnreg import Regularizer, SiteRule


class RecurrentOnly(Regularizer):
    name = "recurrent-only"
    description = "One mask per sequence on h_{t-1}; inputs and outputs untouched."
    params = {"p": 0.25}

    def plan(self):
        return {"recurrent": SiteRule(self.p, per="sequence")}


@rnnreg.hookimpl
def register_regularizers(register):
    register(RecurrentOnly)
