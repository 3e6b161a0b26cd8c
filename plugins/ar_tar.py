"""Activation and temporal activation regularization (AR/TAR; Merity et al. 2017, AWD-LSTM).

    alpha · mean(ĥ²)                    on the last layer's output after the output dropout (AR)
    beta  · mean((h_t − h_{t−1})²)      on the last layer's output before it (TAR; within a window)

added to the training loss only. No mask: it composes with every dropout regularizer (`variational+ar-tar`).
Defaults are AWD-LSTM's, alpha 2 and beta 1.
"""

from rnnreg import Regularizer, hookimpl


class ARTAR(Regularizer):
    name = "ar-tar"
    description = "Merity et al. 2017: loss terms alpha·mean(h²) (dropped output) + beta·mean((h_t − h_{t−1})²)."
    params = {"alpha": 2.0, "beta": 1.0}
    # Up to 100x the defaults, not the default 10x: in the 16-trial tuned-lm study the four best trials had
    # alpha or beta within 6 % of the top of [default/10, default·10] on the log scale.
    search_space = {"alpha": (0.2, 200.0, "log"), "beta": (0.1, 100.0, "log")}

    def penalty(self, *, output, dropped_output):
        ar = dropped_output.pow(2).mean()
        tar = (output[:, 1:] - output[:, :-1]).pow(2).mean() if output.shape[1] > 1 else output.new_zeros(())
        return self.alpha * ar + self.beta * tar


@hookimpl
def register_regularizers(register):
    register(ARTAR)
