"""TensorBoard logging (`rnnreg run --log tensorboard[:DIR]`): one TensorBoard run per job.

The run is DIR/<task>/<label>/seed<N> (DIR defaults to ./runs, where `torch.utils.tensorboard` and
`tensorboard --logdir runs` look). Every epoch writes each number of the curve entry as a scalar at that
epoch (train_loss, valid_perplexity, lr, seconds, train_penalty, test_*, and learned_p/<site.layer> for
learned rates); the finished job adds its configuration as hparams with the final metrics, so the HParams
tab compares jobs. Needs the `tensorboard` package (`pip install 'rnnreg[tensorboard]'`).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from rnnreg import Observer, RnnregError, hookimpl

DEFAULT_DIR = "runs"


def _numbers(entry: dict, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a (nested) dict, keyed by path: {"learned_p": {"input.0": p}} → learned_p/input.0."""
    found: dict[str, float] = {}
    for key, value in entry.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found |= _numbers(value, f"{name}/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            found[name] = float(value)
    return found


def _hparams(config: dict, prefix: str = "") -> dict:
    """The job's config as TensorBoard hparams: scalar leaves only, keyed by their dotted path."""
    found: dict = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found |= _hparams(value, f"{name}.")
        elif isinstance(value, (bool, int, float, str)):
            found[name] = value
    return found


class TensorBoardLog(Observer):
    name = "tensorboard"
    description = "One TensorBoard run per job: every curve series per epoch, config and final metrics as hparams."
    destination = "the log folder [default: ./runs]; a run per job at DIR/<task>/<label>/seed<N>"

    @classmethod
    def check(cls, destination):
        try:  # imported here, once before any job, not in the first job's time (0.35 s: 2 % of a quick job)
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise RnnregError("needs the tensorboard package: pip install 'rnnreg[tensorboard]'") from None
        folder = Path(destination or DEFAULT_DIR)
        if folder.exists() and not folder.is_dir():
            raise RnnregError(f"{str(folder)!r} is a file, not a folder for TensorBoard's runs")
        try:  # before any job trains: a folder that cannot be written is one line now, not lost logs later
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise RnnregError(f"cannot write TensorBoard's runs to {str(folder)!r}: {exc.strerror or exc}") from None

    def job_started(self, event):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(Path(self.target or DEFAULT_DIR) / event.task / event.label
                                         / f"seed{event.seed}"))
        self._config = event.config

    def epoch_ended(self, event):
        for key, value in _numbers(event.entry).items():
            if key != "epoch":
                self._writer.add_scalar(key, value, event.epoch)
        self._writer.flush()  # visible in TensorBoard while the job runs

    def job_finished(self, event):
        finals = {f"final/{k}": v for k, v in _numbers(event.metrics).items()}
        if finals:
            # run_name ".": into this job's own run, so its scalars and hparams are one row of the HParams tab
            self._writer.add_hparams(_hparams(self._config), finals, run_name=".")
        self._writer.close()


@hookimpl
def register_observers(register):
    register(TensorBoardLog)
