"""The progress display of a run: ETAs that count only what this process ran."""

import io


def test_a_resumed_jobs_eta_counts_only_the_epochs_this_process_ran(monkeypatch):
    """A job resumed after epoch 98 of 250 that takes 30 s an epoch has 150 × 30 s left, not 99 epochs' worth
    of the time since the restart spread over 152 epochs."""
    from types import SimpleNamespace

    from rich.console import Console

    from rnnreg import progress

    now = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    out = io.StringIO()
    job = SimpleNamespace(task="sentiment-scale", regularizer=SimpleNamespace(label="naive"), seed=0, tuning=None)
    reporter = progress.Reporter(Console(file=out, width=200), [SimpleNamespace(runs=True)])
    reporter("start", {"job": job, "index": 1, "total": 1, "why": "resumes after epoch 98"})
    now[0] = 30.0
    reporter("epoch", {"epoch": 99, "epochs": 250, "valid_rmse": 0.15})
    now[0] = 60.0
    reporter("epoch", {"epoch": 100, "epochs": 250, "valid_rmse": 0.15})
    lines = out.getvalue().splitlines()
    assert "job ETA 1:15:30" in lines[-2]  # 151 epochs × 30 s
    assert "job ETA 1:15:00" in lines[-1]  # 150 epochs × 30 s


def test_a_tuning_trial_is_named_by_its_number():
    from rnnreg.jobs import Job, job_name
    from rnnreg.suite import RegularizerEntry

    job = Job("synthetic-lm", RegularizerEntry("naive"), 0, {}, {}, {})
    assert job_name(job) == "synthetic-lm · naive · seed 0"
    trial = Job("synthetic-lm", RegularizerEntry("naive"), 0, {}, {}, {}, tuning={"role": "trial", "trial": 7})
    assert job_name(trial) == "synthetic-lm · naive · seed 0 · trial 7"

