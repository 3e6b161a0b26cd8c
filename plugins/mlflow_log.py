"""MLflow tracking (`rnnreg run --log mlflow[:TRACKING_URI]`): one MLflow run per job.

The run, named "<task>/<label>/seed N" in the experiment "rnnreg/<task>", holds the job's flattened config
as params, the rnnreg identity as tags (config hash, task, label, seed), every number of every epoch's
curve entry as a metric at that step, the final metrics, and the result JSON as the artifact
`result.json`; it ends FINISHED or FAILED with the job. TRACKING_URI defaults to MLflow's own default
store, `sqlite:///mlflow.db` in the current folder (a SQLite store keeps its artifacts in mlruns/ beside
the database file); any URI MLflow takes works, an `http://` tracking server included. Needs
`mlflow-skinny` (`pip install 'rnnreg[mlflow]'`).

Every write happens on a writer thread, not the job's: a SQLite store spends ~30 ms of ORM work on each
`log_batch`, which on a 20-second quick job was 3 % of its wall time when written inline per epoch. The
writer sends the epochs that have queued up in one batch at most every FLUSH_SECONDS (an hour-long PTB
epoch still appears as it ends), and the job's thread only waits for it at the end. A new SQLite store's
tables (~7 s of MLflow migrations) are created in `check`, once, before any job trains.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from pathlib import Path

from rnnreg import Observer, RnnregError, hookimpl

DEFAULT_URI = "sqlite:///mlflow.db"
PARAM_LIMIT = 6000  # MLflow's longest param value
BATCH_LIMIT = 1000  # MLflow's most metrics per log_batch
FLUSH_SECONDS = 5.0


def _flat(value, prefix: str = "") -> dict:
    found: dict = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        found |= _flat(item, f"{name}.") if isinstance(item, dict) else {name: item}
    return found


def _artifacts_beside(uri: str, experiment: str) -> str | None:
    """For a SQLite store, artifacts go in mlruns/ beside the database file (MLflow's default would be the
    current folder, wherever the run started); other stores keep their own default."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlruns" / experiment.replace("/", "-")).as_uri()


def _metric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class MLflowLog(Observer):
    name = "mlflow"
    description = "One MLflow run per job: config as params, every epoch's numbers as metrics, result.json."
    destination = "an MLflow tracking URI [default: sqlite:///mlflow.db in the current folder]"

    @classmethod
    def check(cls, destination):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise RnnregError("needs MLflow: pip install 'rnnreg[mlflow]' (mlflow-skinny)") from None
        try:
            MlflowClient(destination or DEFAULT_URI).search_experiments(max_results=1)  # creates a new store
        except Exception as exc:
            raise RnnregError(f"cannot open the MLflow store {destination or DEFAULT_URI!r}: {exc}") from None

    def job_started(self, event):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write, args=(event,), name="rnnreg-mlflow", daemon=True)
        self._writer.start()

    def epoch_ended(self, event):
        from mlflow.entities import Metric

        self._raise_writer_error()
        stamp = int(event.entry.get("epoch", event.epoch))
        self._queue.put([Metric(key.replace("learned_p.", "learned_p/"), float(value), 0, stamp)
                         for key, value in _flat(event.entry).items() if _metric(value) and key != "epoch"])

    def job_finished(self, event):
        self._queue.put(event)
        self._writer.join()
        self._raise_writer_error()

    def _raise_writer_error(self):
        if self._error is not None:
            raise self._error

    def _write(self, started):
        """The writer thread: open the run, then batch queued epochs until the job's JobFinished arrives."""
        try:
            client, run = self._open(started)
            pending: list = []
            last = time.monotonic()
            while True:
                wait = None if not pending else max(0.0, last + FLUSH_SECONDS - time.monotonic())
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    item = None
                epoch = isinstance(item, list)  # else a timeout (None) or the JobFinished: flush now
                if epoch:
                    pending += item
                if pending and (not epoch or time.monotonic() - last >= FLUSH_SECONDS):
                    for begin in range(0, len(pending), BATCH_LIMIT):
                        client.log_batch(run, metrics=pending[begin:begin + BATCH_LIMIT])
                    pending, last = [], time.monotonic()
                if item is not None and not epoch:
                    self._close(client, run, item)
                    return
        except BaseException as exc:  # handed to the job's thread, which reports it as this observer's failure
            self._error = exc

    def _open(self, event):
        from mlflow.entities import Param, RunTag
        from mlflow.tracking import MlflowClient

        uri = self.target or DEFAULT_URI
        client = MlflowClient(uri)
        experiment_name = f"rnnreg/{event.task}"
        experiment = client.get_experiment_by_name(experiment_name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(
            experiment_name, artifact_location=_artifacts_beside(uri, experiment_name))
        tags = {"rnnreg.config_hash": event.config_hash, "rnnreg.task": event.task, "rnnreg.label": event.label,
                "rnnreg.seed": str(event.seed), "rnnreg.device": event.device}
        run = client.create_run(experiment_id, run_name=event.run_name, tags=tags).info.run_id
        params = [Param(key[:250], str(value)[:PARAM_LIMIT]) for key, value in _flat(event.config).items()]
        for begin in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(run, params=params[begin:begin + 100],
                             tags=[RunTag("rnnreg.run_name", event.run_name)] if begin == 0 else [])
        return client, run

    def _close(self, client, run, event):
        from mlflow.entities import Metric

        finals = [Metric(f"final/{key}", float(value), 0, 0) for key, value in event.metrics.items() if _metric(value)]
        if finals:
            client.log_batch(run, metrics=finals)
        client.log_dict(run, event.result, "result.json")
        client.set_terminated(run, "FINISHED" if event.status == "ok" else "FAILED")


@hookimpl
def register_observers(register):
    register(MLflowLog)
