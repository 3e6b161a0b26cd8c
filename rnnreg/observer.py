"""Observers: plugins that watch jobs while they run (TensorBoard, MLflow, a CSV file, anything).

An observer is a class registered by the `register_observers` hook and chosen per run with
`--log NAME[:DESTINATION]`. rnnreg builds one instance per job, in the process that runs the job (this
process, a `--jobs N` worker or a Ray task: events never cross processes), and calls it at three points:

    job_started(JobStarted)    before the first epoch (a resumed job starts again at its next epoch)
    epoch_ended(EpochEnded)    after every epoch, with that epoch's curve entry
    job_finished(JobFinished)  once the result is complete, ok or failed, before it is written

Observers see copies: nothing they do reaches the numbers. One that raises is switched off for the rest of
the job, the job goes on, a line on stderr names the observer and what it raised, and the result records
it under `observers` ({name: "ok" | "failed in <event>: <error>"}); `observer_seconds` records what each
observer cost the job, so logging's overhead is measured rather than assumed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rnnreg.errors import RnnregError
from rnnreg.registry import check_declares_only

if TYPE_CHECKING:
    from rnnreg.registry import Registry


@dataclass(frozen=True)
class JobStarted:
    """run_name: "task/label/seed N", the name trackers give the job's run; config: the job's full resolved
    config (what config_hash hashes); first_epoch: 1, or the epoch a resumed job continues at."""

    run_name: str
    config_hash: str
    task: str
    label: str
    seed: int
    device: str
    config: dict
    first_epoch: int = 1


@dataclass(frozen=True)
class EpochEnded:
    """entry: the epoch's curve entry as the result will hold it — epoch, lr, train_loss, the validation
    metric (valid_perplexity / valid_error / valid_rmse), seconds, and where they exist train_penalty,
    test_<metric> and learned_p ({"recurrent.0": p, ...}); epochs: how many the job trains."""

    run_name: str
    config_hash: str
    epoch: int
    epochs: int
    entry: dict


@dataclass(frozen=True)
class JobFinished:
    """status "ok" or "failed"; metrics {name: value} (empty when failed); error: why it failed, else None;
    result: the whole result as it will be written (without the `observers` field)."""

    run_name: str
    config_hash: str
    status: str
    metrics: dict
    error: str | None
    result: dict = field(repr=False)


class Observer:
    """An observer plugin: watches jobs, never changes them.

    Declare, as class attributes:
      name         the registry name (`--log NAME`);
      description  one line for `rnnreg plugins list`;
      destination  what `--log NAME:DESTINATION` means for it, and its default when left out (one line).
    and implement any of job_started, epoch_ended, job_finished (each takes one event; see above).

    `__init__(self, destination)` receives the DESTINATION string (None when left out); `check(destination)`,
    a classmethod, runs once before any job trains: raise `rnnreg.RnnregError` there for a missing package
    or a bad destination, so the run stops with one line instead of every job logging a failure.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    destination: ClassVar[str] = ""

    def __init__(self, destination: str | None = None):
        self.target = destination

    @classmethod
    def check(cls, destination: str | None) -> None:
        """Raise RnnregError when this observer cannot run here (missing package, bad destination)."""

    def job_started(self, event: JobStarted) -> None:
        pass

    def epoch_ended(self, event: EpochEnded) -> None:
        pass

    def job_finished(self, event: JobFinished) -> None:
        pass


EVENTS = ("job_started", "epoch_ended", "job_finished")
INTERFACE = ("name", "description", "destination", "check", *EVENTS)


def check_observer_class(cls: object, origin: str) -> None:
    """An observer is checked when it loads, like a regularizer: a subclass of Observer that declares
    nothing rnnreg would not call."""
    name = getattr(cls, "name", "?")
    where = f"observer {name!r} from {origin}"
    if not (isinstance(cls, type) and issubclass(cls, Observer)):
        raise RnnregError(f"{where}: {cls!r} is not a subclass of rnnreg.Observer")
    check_declares_only(cls, INTERFACE, (Observer,), where, "an observer", verb="call")
    if not isinstance(cls.description, str) or not isinstance(cls.destination, str):
        raise RnnregError(f"{where}: 'description' and 'destination' must be strings")


@dataclass(frozen=True)
class LogSpec:
    """`--log NAME[:DESTINATION]`: which observer, and where it writes."""

    name: str
    destination: str | None = None

    @classmethod
    def parse(cls, text: str) -> LogSpec:
        name, colon, destination = text.partition(":")
        if not name.strip():
            raise RnnregError(f"--log {text!r}: expected NAME or NAME:DESTINATION, like tensorboard:runs")
        return cls(name.strip(), destination if colon else None)

    def __str__(self) -> str:
        return self.name if self.destination is None else f"{self.name}:{self.destination}"


def check_log_specs(specs: tuple[LogSpec, ...], registry: Registry[type[Observer]]) -> None:
    """Before any job trains: every observer named exists and can run here."""
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RnnregError(f"--log names observer {repeated[0]!r} twice; give each observer once")
    for spec in specs:
        cls = registry.get(spec.name).cls
        try:
            cls.check(spec.destination)
        except RnnregError as exc:
            raise RnnregError(f"--log {spec}: {exc}") from None


class JobObservers:
    """The observers of one job, called with failure isolation: an observer that raises is switched off,
    said once through `warn`, and recorded in `status`."""

    def __init__(self, specs: tuple[LogSpec, ...], registry: Registry[type[Observer]], warn: Callable[[str], None]):
        self.warn = warn
        self.live: dict[str, Observer] = {}
        self.status: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        for spec in specs:
            self.status[spec.name], self.seconds[spec.name] = "ok", 0.0
            start = time.perf_counter()
            try:
                self.live[spec.name] = registry.get(spec.name).cls(spec.destination)
            except Exception as exc:
                self.failed(spec.name, "start-up", exc)
            self.seconds[spec.name] += time.perf_counter() - start

    def failed(self, name: str, event: str, exc: Exception) -> None:
        self.live.pop(name, None)
        self.status[name] = f"failed in {event}: {type(exc).__name__}: {exc}"
        self.warn(f"observer {name!r} failed in {event} ({type(exc).__name__}: {exc}); the job goes on without it")

    def emit(self, event: str, payload: Any) -> None:
        for name, observer in list(self.live.items()):
            start = time.perf_counter()
            try:
                getattr(observer, event)(copy.deepcopy(payload))  # a copy: nothing reaches the job's numbers
            except Exception as exc:
                self.failed(name, event, exc)
            self.seconds[name] += time.perf_counter() - start

    def __bool__(self) -> bool:
        return bool(self.status)
