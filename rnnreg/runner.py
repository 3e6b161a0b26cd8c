"""The runner: suite → jobs (tasks × regularizers × seeds) → one result file per job.

Each job is isolated: an exception or a diverging loss inside it is recorded as a failed result and the
run goes on. Results are written atomically, so an interrupted run loses at most the job in flight. A
rerun skips every job whose result (same config hash) exists and succeeded; it reruns a job whose result
file cannot be read and, unless told not to, one that failed, saying why in both cases.

Everything that can be checked is checked before the first job trains: the grid resolves (every config
builds), the results folder exists and takes a file, and every dataset a job needs is present.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from rnnreg.allocator import keep_freed_memory
from rnnreg.checkpoint import Checkpoint
from rnnreg.errors import Diverged, RnnregError
from rnnreg.identity import config_hash
from rnnreg.joblock import JobLock, describe
from rnnreg.jobs import Job, NotRun, PlannedJob, config_of
from rnnreg.machine import git_commit, git_dirty, machine_info
from rnnreg.metrics import MetricName
from rnnreg.observer import EpochEnded, JobFinished, JobObservers, JobStarted, LogSpec
from rnnreg.results import UnreadableResult, read_result, read_results
from rnnreg.storage import portable_path, result_path, write_atomic
from rnnreg.trainer import train_and_evaluate


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RnnregError("device 'cuda' requested but torch sees no CUDA device (use --device cpu or auto)")
    return device


def check_results_dir(folder: Path) -> None:
    """Create the results folder and prove it takes a file, before anything trains."""
    if folder.exists() and not folder.is_dir():
        raise RnnregError(f"results folder {str(folder)!r} is a file, not a folder (choose another --results-dir "
                          "or RNNREG_RESULTS_DIR)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".rnnreg-write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise RnnregError(f"results folder {str(folder)!r} is not writable ({exc.strerror or exc}); "
                          "choose another --results-dir or RNNREG_RESULTS_DIR") from None


class Runner:
    def __init__(self, plugins, results_dir: Path, *, device: str = "cpu", data_dir: Path | None = None,
                 force: bool = False, retry_failed: bool = True, resume: bool = True,
                 device_requested: str | None = None, observers: tuple[LogSpec, ...] = (),
                 report: Callable[[str, dict], None] = lambda event, info: None):
        self.plugins, self.results_dir, self.device = plugins, Path(results_dir), device
        self.observers = observers  # `--log`: built per job, where the job runs (rnnreg.observer)
        self.data_dir, self.force, self.retry_failed, self.report = data_dir, force, retry_failed, report
        self.resume = resume  # continue unfinished jobs from their last epoch checkpoint
        self.device_requested = device_requested or device  # "auto" that fell back to the CPU says so
        self._data: dict[str, tuple] = {}  # task name → (data, oracle), loaded once per run
        self._experiments: dict[str, dict] | None = None  # adopt_twin's view of the folder, per plan
        git_commit(), git_dirty()  # read now, when the code that will run was imported

    def config_of(self, job: Job) -> dict:
        """The full resolved config of a job: what its hash, and so its cache key, is made of."""
        return config_of(job, self.plugins, self.device)

    def path_of(self, job: Job) -> tuple[dict, str, Path]:
        config = self.config_of(job)
        digest = config_hash(config)
        return config, digest, result_path(self.results_dir, job.task, job.regularizer.label, job.seed, digest)

    def plan(self, jobs: list[Job]) -> list[PlannedJob]:
        """A PlannedJob per job (a configuration listed twice runs once); its `why` is None when its finished
        result stands, else the reason it runs. Checks the folder and loads every dataset a job needs: a
        mistake is a one-line error now, not a failed result per job after hours of training the others."""
        planned, seen = [], set()
        self._experiments = None  # results written since the last plan count
        for job in jobs:
            config, digest, path = self.path_of(job)
            if path in seen:  # `--param p=0.3,0.3`, or a suite listing one configuration twice
                self.report("warning", {"message": f"{job.task} · {job.regularizer.label} · seed {job.seed} is "
                                                   "listed more than once with the same config: it runs once"})
                continue
            seen.add(path)
            why = self.why_run(path, digest)
            if why == "new" and self.adopt_twin(job, config, digest, path):
                why = None
            planned.append(PlannedJob(job, config, digest, path, why).in_this_process(self.plugins))
        for entry in planned:
            if entry.runs:
                self.task_data(entry.job.task)
        check_results_dir(self.results_dir)
        return planned

    def adopt_twin(self, job: Job, config: dict, digest: str, path: Path) -> bool:
        """A tuning job (trial, reference, recheck, final) whose experiment already ran in this folder — the
        same config but for the tuning record, so the same training with the same numerics — is not trained
        again: its result is that one's, written under its own config and hash with `reused` naming the
        source. (ptb-small's seeds at one strength are then a strength search's trials and finals; a
        reference that is also a grid point is trained once.)"""
        if job.tuning is None or self.force:
            return False
        twin = self.experiments().get(experiment_digest(config))
        if twin is None:
            return False
        adopted = {key: value for key, value in twin.items() if not key.startswith("_")}
        adopted.pop("reused", None)
        adopted.update(config=config, config_hash=digest, suite=job.suite,
                       reused={"config_hash": twin["config_hash"],
                               "path": portable_path(twin["_path"]) or twin["_path"]})
        if job.study is not None:
            adopted["study"] = job.study
        write_atomic(path, adopted)
        self.experiments()[experiment_digest(config)] = {**adopted, "_path": str(path)}
        return True

    def experiments(self) -> dict[str, dict]:
        """The folder's finished results by experiment (their config without the tuning record), read once
        per plan (the results index makes it cheap): what adopt_twin looks in."""
        if self._experiments is None:
            self._experiments = {}
            if self.results_dir.is_dir():
                for result in read_results(self.results_dir)[0]:
                    if result["status"] == "ok" and not result.get("reused"):
                        self._experiments.setdefault(experiment_digest(result["config"]), result)
        return self._experiments

    def why_run(self, path: Path, digest: str) -> str | None:
        if self.force:
            return "forced"
        if not path.exists():
            return "new"
        try:
            previous = read_result(path)
        except UnreadableResult as exc:
            return f"rerun: the result file {exc}"
        if previous["config_hash"] != digest:
            return "rerun: the result file at its path belongs to another config"
        if previous["status"] != "ok" and self.retry_failed:
            return f"retry: it failed before ({previous.get('error')})"
        return None

    def run(self, jobs: list[Job], planned: list[PlannedJob] | None = None) -> list[dict]:
        planned = planned if planned is not None else self.plan(jobs)
        results = []
        for index, entry in enumerate(planned, 1):
            info = {"index": index, "total": len(planned), "job": entry.job, "path": entry.path, "why": entry.why}
            if not entry.runs:
                self.report("skip", info)
                continue
            self.report("start", info)
            result = self.run_and_write(entry)
            if isinstance(result, NotRun):
                self.report("not-run", {**info, "reason": result.reason})
                continue
            results.append(result)
            self.report("done", {**info, "result": result})
        return results

    def task_data(self, name: str):
        if name not in self._data:
            task = self.plugins.tasks.get(name).cls()
            data = task.load(self.data_dir)
            self._data[name] = (task, data, task.oracle(data))
        return self._data[name]

    def checkpoint_of(self, digest: str) -> Checkpoint:
        return Checkpoint(self.results_dir, digest, resume=self.resume,
                          warn=lambda message: self.report("warning", {"message": message}))

    def run_and_write(self, planned: PlannedJob) -> dict | NotRun:
        """Run one job, write its result atomically, then drop its checkpoint (the result supersedes it).

        The job's lock is held throughout, so no other process on this results folder trains it at the
        same time; a job another process holds, or finished since this run was planned, is not run."""
        job, digest, path = planned.job, planned.digest, planned.path
        lock = JobLock(self.results_dir, digest, job.regularizer.label,
                       warn=lambda message: self.report("warning", {"message": message}))
        holder = lock.acquire()
        if holder is not None:
            return NotRun(f"running in another process ({describe(holder)}), left to it")
        try:
            if not self.force and self.why_run(path, digest) is None:
                return NotRun("finished by another process meanwhile, skipped")
            checkpoint = self.checkpoint_of(digest)
            result = self.run_one(planned, checkpoint)
            write_atomic(path, result)
            checkpoint.remove()
            return result
        finally:
            lock.release()

    def run_one(self, planned: PlannedJob, checkpoint: Checkpoint | None = None) -> dict:
        """Train and evaluate one planned job: its result, "ok" or "failed" with the reason (never raises for
        the job's own failure: a broken plugin or a diverging loss must not stop the others)."""
        job, clock = planned.job, time.perf_counter()
        # Each training step's large tensors reuse the last step's pages (rnnreg/allocator.py); set before
        # the machine record, which says how malloc treats freed memory.
        keep_freed_memory()
        result = planned.result_header() | {
            "torch_version": torch.__version__,
            "git_commit": git_commit(),
            "git_dirty": git_dirty(),
            "machine": machine_info(self.device) | {"device_requested": self.device_requested},
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        observers = JobObservers(self.observers, self.plugins.observers,
                                 warn=lambda message: self.report("warning", {"message": message}))
        run_name = f"{job.task}/{job.regularizer.label}/seed {job.seed}"
        observers.emit("job_started", JobStarted(run_name, planned.digest, job.task, job.regularizer.label, job.seed,
                                                 self.device, planned.config))

        def progress(info: dict) -> None:
            if "mc_split" in info:  # MC passes after the last epoch: the display's business, not the observers'
                self.report("evaluating", info)
                return
            observers.emit("epoch_ended", EpochEnded(run_name, planned.digest, info["epoch"], info["epochs"],
                                                     info["curve"]))
            self.report("epoch", {key: value for key, value in info.items() if key != "curve"})

        try:
            self.train(planned, result, progress, checkpoint)
        except Diverged as exc:
            result.update(status="failed", error=f"diverged: {exc}")
        except RnnregError as exc:  # e.g. missing data: the job cannot run, say why
            result.update(status="failed", error=str(exc))
        except Exception as exc:  # a broken plugin must not stop the others
            tail = traceback.format_exc(limit=-3).strip().splitlines()
            result.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=tail)
        result["wall_seconds"] = time.perf_counter() - clock
        if checkpoint is not None:
            result["checkpoint"] = checkpoint.cost()
            # A resumed job's wall time is the whole job's: the time before the interruption counts too.
            result["wall_seconds"] += checkpoint.seconds_before
        result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        result.update(peak_memory(self.device))
        if observers:
            metrics = {name: entry["value"] for name, entry in result.get("metrics", {}).items()}
            observers.emit("job_finished", JobFinished(run_name, planned.digest, result["status"], metrics,
                                                       result.get("error"), result))
            result["observers"] = observers.status  # whether each observer saw the whole job
            result["observer_seconds"] = observers.seconds  # what watching cost it
        return result

    def train(self, planned: PlannedJob, result: dict, progress: Callable[[dict], None],
              checkpoint: Checkpoint | None) -> None:
        """Train one job and add to its `result` what the task says (its primary metric, the oracle's and the
        papers' numbers: kept when training fails), then the curves, speed, cost and metrics."""
        job, regularizer = planned.job, planned.regularizer
        task, data, oracle = self.task_data(job.task)
        result["task"]["primary_metric"] = task.primary_metric
        result.update(oracle=oracle, reference=getattr(task, "published", None))
        if torch.device(self.device).type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        outcome = train_and_evaluate(task, data, regularizer, job.model, job.train, job.evaluation, job.seed,
                                     self.device, progress=progress, checkpoint=checkpoint)
        # Few MC passes bias perplexity upward: every MC number says how many it averaged.
        mc_samples = job.evaluation.get("mc_samples", 0) if any(
            MetricName.parse(name).mc for name in outcome["metrics"]) else None
        result.update(status="ok", error=None, curves=outcome["curves"], speed=outcome["speed"], cost=outcome["cost"],
                      parameters=outcome["parameters"], metrics=metrics_record(outcome["metrics"], mc_samples),
                      mc_samples=mc_samples)
        if "learned_rates" in outcome:  # Concrete dropout's final p per site and layer
            result["learned_rates"] = outcome["learned_rates"]


def metrics_record(metrics: dict[str, float], mc_samples: int | None) -> dict[str, dict]:
    """A result's `metrics`: each value with its direction, and an MC value with its number of passes."""
    record: dict[str, dict] = {}
    for name, value in metrics.items():
        parsed = MetricName.parse(name)
        record[name] = {"value": value, "higher_is_better": parsed.higher_is_better}
        if parsed.mc:
            record[name]["mc_samples"] = mc_samples
    return record


def experiment_digest(config: dict) -> str:
    """A config's hash without its tuning record: jobs of any role (or none) with the same one are the same
    training."""
    return config_hash({key: value for key, value in config.items() if key != "tuning"})


def peak_memory(device: str) -> dict:
    if torch.device(device).type == "cuda":
        return {"peak_memory_bytes": torch.cuda.max_memory_allocated(), "peak_memory_kind": "cuda-allocated"}
    # On CPU the only honest figure is the process's peak resident size so far (Linux reports KiB).
    return {"peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "peak_memory_kind": "process-max-rss"}
