"""No regularization: the baseline every leaderboard difference is measured from."""

from rnnreg import Regularizer, hookimpl


class NoDropout(Regularizer):
    name = "none"
    description = "No dropout anywhere (the unregularized baseline)."

    def plan(self):
        return {}


@hookimpl
def register_regularizers(register):
    register(NoDropout)
