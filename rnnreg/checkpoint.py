"""Per-epoch checkpoints, so a killed job resumes where it stopped instead of at epoch 1.

A job's checkpoint lives at `RESULTS_DIR/.checkpoints/<config hash>.pt` (a dot-folder, so result readers
never see it), is written atomically at the end of every epoch and removed once the job's result is
written. It holds everything the rest of the run depends on: the model and optimizer state, every RNG
state (torch's global generator, which draws the masks; CUDA's; the sequence trainer's data-order
generator), the curves and speed samples so far. Learning rates are a function of the epoch, and a
language model's carried hidden state starts afresh each epoch, so neither needs saving. On CPU a
resumed job therefore computes exactly what an uninterrupted one does.

A checkpoint that cannot be read, or that was written for another config, is ignored with a one-line
warning and overwritten — never trusted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

CHECKPOINT_DIR = ".checkpoints"


class Checkpoint:
    def __init__(self, results_dir: Path, config_hash: str, *, resume: bool = True,
                 warn: Callable[[str], None] = lambda message: None):
        self.path = Path(results_dir) / CHECKPOINT_DIR / f"{config_hash}.pt"
        self.config_hash, self.resume, self.warn = config_hash, resume, warn
        self.saves, self.seconds, self.bytes = 0, 0.0, 0  # what checkpointing cost this job
        self.resumed_after: int | None = None  # the epoch a resumed job's checkpoint was written after
        self.seconds_before: float = 0.0  # training time the job had spent before it was interrupted

    def load(self) -> dict | None:
        """The saved training state, or None (no checkpoint, resuming switched off, or not trustworthy)."""
        if not self.resume or not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torn, truncated or not a checkpoint at all
            self.warn(f"checkpoint {self.path} cannot be read ({type(exc).__name__}): ignored, the job starts afresh")
            return None
        if not isinstance(saved, dict) or saved.get("config_hash") != self.config_hash:
            self.warn(f"checkpoint {self.path} belongs to another config: ignored, the job starts afresh")
            return None
        self.resumed_after = saved.get("epoch")
        self.seconds_before = float(saved.get("elapsed_seconds", 0.0))
        return saved

    def save(self, state: dict) -> None:
        start = time.perf_counter()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        torch.save({**state, "config_hash": self.config_hash}, temporary)
        os.replace(temporary, self.path)  # atomic: a reader sees the old checkpoint or the new one
        self.saves += 1
        self.bytes = self.path.stat().st_size
        self.seconds += time.perf_counter() - start

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def cost(self) -> dict:
        """For the result file: saves, seconds spent saving, bytes of the last one, and where it resumed."""
        return {"saves": self.saves, "seconds": self.seconds, "bytes": self.bytes,
                "resumed_after_epoch": self.resumed_after, "seconds_before_resume": self.seconds_before}


def rng_states(device, order_rng: torch.Generator | None = None) -> dict:
    states = {"torch": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state()
    if order_rng is not None:
        states["order"] = order_rng.get_state()
    return states


def restore_rng_states(states: dict, device, order_rng: torch.Generator | None = None) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(states["cuda"])
    if order_rng is not None and "order" in states:
        order_rng.set_state(states["order"])


class EpochState:
    """What a trainer carries from epoch to epoch, saved after each and restored on resume."""

    def __init__(self, checkpoint: Checkpoint | None, model, optimizer, device,
                 order_rng: torch.Generator | None = None):
        self.checkpoint, self.model, self.optimizer = checkpoint, model, optimizer
        self.device, self.order_rng = device, order_rng
        self.curves: list[dict] = []
        self.train_speed: list[float] = []
        self.eval_speed: list[float] = []
        self.first_epoch = 1
        self.started = time.perf_counter()
        self.elapsed_before = 0.0

    def resume(self) -> int:
        """Load the checkpoint when there is a trustworthy one; returns the first epoch still to run."""
        saved = self.checkpoint.load() if self.checkpoint else None
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            restore_rng_states(saved["rng"], self.device, self.order_rng)
            self.curves, self.train_speed, self.eval_speed = saved["curves"], saved["train_speed"], saved["eval_speed"]
            self.first_epoch = saved["epoch"] + 1
            self.elapsed_before = float(saved.get("elapsed_seconds", 0.0))
        self.started = time.perf_counter()
        return self.first_epoch

    def end_epoch(self, epoch: int) -> None:
        if self.checkpoint is None:
            return
        self.checkpoint.save({"epoch": epoch, "model": self.model.state_dict(),
                              "optimizer": self.optimizer.state_dict(),
                              "rng": rng_states(self.device, self.order_rng), "curves": self.curves,
                              "train_speed": self.train_speed, "eval_speed": self.eval_speed,
                              "elapsed_seconds": self.elapsed_before + time.perf_counter() - self.started})
