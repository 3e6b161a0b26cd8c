"""MLflow tracking (`rnnreg run --log mlflow[:TRACKING_URI]`): one MLflow run per job.

The run, named "<task>/<label>/seed N" in the experiment "rnnreg/<task>", holds the job's flattened config
as params, the rnnreg identity as tags (config hash, task, label, seed), every number of every epoch's
curve entry as a metric at that step, the final metrics, and the result JSON as the artifact
`result.json`; it ends FINISHED or FAILED with the job. TRACKING_URI defaults to MLflow's own default
store, `sqlite:///mlflow.db` in the current folder (a SQLite store keeps its artifacts in mlruns/ beside
the database file); any URI MLflow takes works, an `http://` tracking server included. Needs
`mlflow-skinny` (`pip install 'rnnreg[mlflow]'`).
"""

from __future__ import annotations

import math
from pathlib import Path

from rnnreg import Observer, RnnregError, hookimpl

DEFAULT_URI = "sqlite:///mlflow.db"
PARAM_LIMIT = 6000  # MLflow's longest param value


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
            import mlflow  # noqa: F401
        except ImportError:
            raise RnnregError("needs MLflow: pip install 'rnnreg[mlflow]' (mlflow-skinny)") from None

    def job_started(self, event):
        from mlflow.entities import Param, RunTag
        from mlflow.tracking import MlflowClient

        self._client = client = MlflowClient(self.target or DEFAULT_URI)
        experiment_name = f"rnnreg/{event.task}"
        experiment = client.get_experiment_by_name(experiment_name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(
            experiment_name, artifact_location=_artifacts_beside(self.target or DEFAULT_URI, experiment_name))
        tags = {"rnnreg.config_hash": event.config_hash, "rnnreg.task": event.task, "rnnreg.label": event.label,
                "rnnreg.seed": str(event.seed), "rnnreg.device": event.device}
        self._run = client.create_run(experiment_id, run_name=event.run_name, tags=tags).info.run_id
        params = [Param(key[:250], str(value)[:PARAM_LIMIT]) for key, value in _flat(event.config).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(self._run, params=params[start:start + 100],
                             tags=[RunTag("rnnreg.run_name", event.run_name)] if start == 0 else [])

    def epoch_ended(self, event):
        from mlflow.entities import Metric

        stamp = int(event.entry.get("epoch", event.epoch))
        metrics = [Metric(key.replace("learned_p.", "learned_p/"), float(value), 0, stamp)
                   for key, value in _flat(event.entry).items() if _metric(value) and key != "epoch"]
        self._client.log_batch(self._run, metrics=metrics)

    def job_finished(self, event):
        from mlflow.entities import Metric

        finals = [Metric(f"final/{key}", float(value), 0, 0) for key, value in event.metrics.items() if _metric(value)]
        if finals:
            self._client.log_batch(self._run, metrics=finals)
        self._client.log_dict(self._run, event.result, "result.json")
        self._client.set_terminated(self._run, "FINISHED" if event.status == "ok" else "FAILED")


@hookimpl
def register_observers(register):
    register(MLflowLog)
