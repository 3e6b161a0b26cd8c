"""rnnreg: compare regularizers for recurrent neural networks, as plugins, on shared tasks."""

import warnings

import pluggy

# torch warns at import when NumPy is absent; rnnreg never hands tensors to NumPy, so the warning is noise.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

__version__ = "0.4.0"

hookimpl = pluggy.HookimplMarker("rnnreg")

# Imported after the warning filter above, because these import torch.
from rnnreg.dropout import SiteRule  # noqa: E402  (after the filter)
from rnnreg.errors import RnnregError  # noqa: E402  (after the filter)
from rnnreg.regularizer import Regularizer  # noqa: E402  (after the filter)
from rnnreg.tasks.base import LMData, SequenceData, Task  # noqa: E402  (after the filter)

__all__ = ["hookimpl", "LMData", "Regularizer", "RnnregError", "SequenceData", "SiteRule", "Task", "__version__"]
