"""Observers watch jobs and change nothing: the same numbers with and without one, a failing observer
costs only itself, workers run their jobs' observers, and the built-in TensorBoard and MLflow loggers
write what their own tools read back (a real TensorBoard server included)."""

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnreg.cli import cli

ROOT = Path(__file__).resolve().parents[1]
CSV_EXAMPLE = ROOT / "docs" / "examples" / "rnnreg-csv-log"
JOB = ["-r", "variational", "-t", "synthetic-sentiment", "--set", "train.epochs=3"]


@pytest.fixture()
def suite(tmp_path):
    path = tmp_path / "no-mc.yaml"
    path.write_text("evaluation: {mc_samples: 0}\ntasks: [synthetic-sentiment]\nregularizers: [none]\n")
    return ["--suite", str(path)]


def run(results: Path, *args: str, plugins_dir: Path | None = None, ok: bool = True):
    prefix = ["--plugins-dir", str(plugins_dir)] if plugins_dir else []
    out = CliRunner().invoke(cli, [*prefix, "run", *args, "--results-dir", str(results), "--format", "json"])
    if ok:
        assert out.exit_code == 0, out.output
    return out


def results_in(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("*.json")) if ".checkpoints" not in p.parts]


def test_an_observer_changes_no_number_and_sees_every_epoch(tmp_path, suite):
    run(tmp_path / "plain", *suite, *JOB)
    log = tmp_path / "epochs.csv"
    run(tmp_path / "watched", *suite, *JOB, "--log", f"csv:{log}", plugins_dir=CSV_EXAMPLE)
    [plain], [watched] = results_in(tmp_path / "plain"), results_in(tmp_path / "watched")
    untimed = lambda curves: [{k: v for k, v in c.items() if k != "seconds"} for c in curves]  # noqa: E731
    assert watched["metrics"] == plain["metrics"] and untimed(watched["curves"]) == untimed(plain["curves"])
    assert watched["config_hash"] == plain["config_hash"]  # logging is not part of the experiment
    assert watched["observers"] == {"csv": "ok"} and 0 <= watched["observer_seconds"]["csv"] < 1
    rows = list(csv.reader(log.open()))
    assert [int(r[1]) for r in rows] == [1, 2, 3]
    assert [float(r[2]) for r in rows] == [c["valid_error"] for c in plain["curves"]]
    assert rows[0][0] == "synthetic-sentiment/variational/seed 0"


def test_a_failing_observer_costs_only_itself(tmp_path, suite):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(
        "import rnnreg\n"
        "class Broken(rnnreg.Observer):\n"
        "    name = 'broken'\n"
        "    def epoch_ended(self, event):\n"
        "        raise OSError('disk full')\n"
        "@rnnreg.hookimpl\n"
        "def register_observers(register):\n"
        "    register(Broken)\n")
    out = run(tmp_path / "results", *suite, *JOB, "--log", "broken", plugins_dir=plugins)
    [result] = results_in(tmp_path / "results")
    assert result["status"] == "ok" and len(result["curves"]) == 3
    assert result["observers"] == {"broken": "failed in epoch_ended: OSError: disk full"}
    said = [line for line in out.output.splitlines() if "observer 'broken'" in line]
    assert len(said) == 1 and "the job goes on without it" in said[0]  # once, not once per epoch
    assert "Traceback" not in out.output


def test_workers_run_their_jobs_observers(tmp_path, suite):
    log = tmp_path / "epochs.csv"
    run(tmp_path / "results", *suite, *JOB, "--seeds", "2", "--jobs", "2", "--log", f"csv:{log}",
        plugins_dir=CSV_EXAMPLE)
    runs = sorted({row[0] for row in csv.reader(log.open())})
    assert runs == ["synthetic-sentiment/variational/seed 0", "synthetic-sentiment/variational/seed 1"]
    assert all(r["observers"] == {"csv": "ok"} for r in results_in(tmp_path / "results"))


@pytest.mark.parametrize("args, message", [
    (["--log", "tensorbord"], "unknown observer 'tensorbord'; did you mean 'tensorboard'?"),
    (["--log", ":x"], "--log ':x': expected NAME or NAME:DESTINATION"),
    (["--log", "csv", "--log", "csv:b.csv"], "--log names observer 'csv' twice"),
])
def test_bad_log_options_are_one_line_before_training(tmp_path, suite, args, message):
    out = run(tmp_path / "results", *suite, *JOB, *args, plugins_dir=CSV_EXAMPLE, ok=False)
    assert out.exit_code != 0 and message in out.output
    assert "Traceback" not in out.output and not (tmp_path / "results").exists()


def test_a_bad_observer_plugin_is_a_one_line_error_at_load(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "odd.py").write_text(
        "import rnnreg\n"
        "class Odd(rnnreg.Observer):\n"
        "    name = 'odd'\n"
        "    def on_epoch(self, event):\n"
        "        pass\n"
        "@rnnreg.hookimpl\n"
        "def register_observers(register):\n"
        "    register(Odd)\n")
    out = CliRunner().invoke(cli, ["--plugins-dir", str(plugins), "plugins", "list"])
    assert out.exit_code != 0
    assert "observer 'odd'" in out.output and "defines 'on_epoch', which rnnreg does not call" in out.output


def test_plugins_list_shows_observers_beside_regularizers():
    out = CliRunner().invoke(cli, ["plugins", "list", "--kind", "observers", "--format", "json"])
    assert out.exit_code == 0
    assert {row["name"] for row in json.loads(out.output)} >= {"tensorboard", "mlflow"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_tensorboard_reads_back_every_series_and_serves_the_runs(tmp_path, suite):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra (pip install -e '.[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = tmp_path / "tb"
    run(tmp_path / "results", *suite, "-r", "concrete", "-t", "synthetic-sentiment", "--set", "train.epochs=3",
        "--log", f"tensorboard:{logdir}")
    [result] = results_in(tmp_path / "results")
    events = EventAccumulator(str(logdir / "synthetic-sentiment" / "concrete" / "seed0"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"valid_error", "train_loss", "lr", "learned_p/recurrent.0", "final/test_error"} <= tags
    assert [e.value for e in events.Scalars("valid_error")] == pytest.approx([c["valid_error"] for c in result["curves"]])
    assert [e.step for e in events.Scalars("learned_p/input.0")] == [1, 2, 3]

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
                               "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        runs = get_json(f"http://127.0.0.1:{port}/data/runs", deadline)
        while not runs and time.monotonic() < deadline:  # the first scan of the folder takes a moment
            time.sleep(0.5)
            runs = get_json(f"http://127.0.0.1:{port}/data/runs", deadline)
        assert "synthetic-sentiment/concrete/seed0" in runs
        scalars = get_json(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", deadline)
        assert "valid_error" in scalars["synthetic-sentiment/concrete/seed0"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_mlflow_holds_params_metrics_and_the_result(tmp_path, suite):
    pytest.importorskip("mlflow", reason="needs the mlflow extra (pip install -e '.[mlflow]')")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run(tmp_path / "results", *suite, *JOB, "--log", f"mlflow:{uri}")
    [result] = results_in(tmp_path / "results")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("rnnreg/synthetic-sentiment")
    [found] = client.search_runs([experiment.experiment_id])
    assert found.info.run_name == "synthetic-sentiment/variational/seed 0" and found.info.status == "FINISHED"
    assert found.data.tags["rnnreg.config_hash"] == result["config_hash"]
    assert found.data.params["train.epochs"] == "3" and found.data.params["regularizer.spec"] == "variational"
    history = client.get_metric_history(found.info.run_id, "valid_error")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
        [c["valid_error"] for c in result["curves"]])
    assert found.data.metrics["final/test_error"] == pytest.approx(result["metrics"]["test_error"]["value"])
    artifact = client.download_artifacts(found.info.run_id, "result.json", str(tmp_path))
    assert json.loads(Path(artifact).read_text())["metrics"] == result["metrics"]
    assert (tmp_path / "mlruns").is_dir()  # artifacts beside the SQLite file, not in the current folder


def test_mlflow_writer_failure_is_the_observers_not_the_jobs(tmp_path, suite, monkeypatch):
    """MLflow writes on its own thread; a store that fails there is reported as the observer's failure."""
    pytest.importorskip("mlflow", reason="needs the mlflow extra (pip install -e '.[mlflow]')")
    from mlflow.tracking import MlflowClient

    def broken(*args, **kwargs):
        raise RuntimeError("store went away")

    monkeypatch.setattr(MlflowClient, "log_batch", broken)
    out = run(tmp_path / "results", *suite, *JOB, "--log", f"mlflow:sqlite:///{tmp_path / 'mlflow.db'}")
    [result] = results_in(tmp_path / "results")
    assert result["status"] == "ok" and result["observers"]["mlflow"].startswith("failed in ")
    assert "store went away" in result["observers"]["mlflow"] and "observer 'mlflow' failed" in out.output


def test_optuna_dashboard_serves_a_study_on_loopback(tmp_path):
    pytest.importorskip("optuna_dashboard", reason="needs the dashboard extra (pip install -e '.[dashboard]')")
    import optuna

    storage = f"sqlite:///{tmp_path / 'studies.sqlite3'}"
    study = optuna.create_study(study_name="synthetic-lm/variational", storage=storage)
    study.add_trial(optuna.trial.create_trial(params={"p": 0.3}, distributions={
        "p": optuna.distributions.FloatDistribution(0, 0.8)}, value=42.0))
    port = free_port()
    command = str(Path(sys.executable).parent / "optuna-dashboard")  # the script the extra installs
    server = subprocess.Popen([command, storage, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        studies = get_json(f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 60)
        assert [s["study_name"] for s in studies["study_summaries"]] == ["synthetic-lm/variational"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_destination_that_cannot_be_written_is_one_line_before_any_job(tmp_path):
    pytest.importorskip("tensorboard")
    from click.testing import CliRunner

    from rnnreg.cli import cli

    out = CliRunner().invoke(cli, ["run", "-r", "none", "-t", "synthetic-sentiment", "--log", "tensorboard:/proc/nope",
                                   "--results-dir", str(tmp_path / "r")])
    assert out.exit_code == 1 and "cannot write TensorBoard's runs to '/proc/nope'" in out.output
    assert len(out.output.strip().splitlines()) == 1 and not (tmp_path / "r").exists()
