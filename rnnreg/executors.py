"""Where a grid's jobs run: this process, N local worker processes, or Ray tasks on a cluster.

Every executor does the same thing per job — `Runner.run_and_write`: train (resuming from the job's epoch
checkpoint when there is one), write the result file atomically, drop the checkpoint — so the results
folder is the single source of truth whichever executor wrote it, and a grid started by one can be
finished by another. Jobs are planned (and every mistake reported) in the driver before anything trains.

    local, --jobs 1   in this process (today's behaviour, with per-epoch progress);
    local, --jobs N   N spawned worker processes, each with cores // N torch threads (one job per visible
                      GPU with CUDA); a worker that dies takes its job with it, and a rerun resumes it;
    ray               one Ray task per job on the cluster at --address / RAY_ADDRESS (else a local Ray
                      instance), asking for 1 GPU with CUDA or its threads' worth of CPUs; a task whose
                      worker dies is retried (RAY_RETRIES times) and resumes from its checkpoint, after
                      which the job is recorded failed with the reason.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import datetime as dt
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnreg.errors import RnnregError
from rnnreg.metrics import MetricName
from rnnreg.storage import write_atomic

RAY_RETRIES = 2


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to rebuild the driver's runner (everything here pickles)."""

    plugins_dir: str | None
    results_dir: str
    device: str
    data_dir: str | None
    resume: bool
    threads: int
    observers: tuple = ()  # the run's `--log` specs: each worker builds its jobs' observers itself


JOBS_ENV = "RNNREG_JOBS"


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_jobs(device: str) -> int:
    """One job per visible GPU with CUDA; on CPU one job per core, each on one thread. Small recurrent
    models gain little from a second thread (the quick suite's jobs: 1.35× slower on one thread than on
    two, measured on the 2-core development machine), so one job per core finishes a grid ~1.5× sooner
    than one job on every core."""
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        return max(1, torch.cuda.device_count())
    return usable_cores()


def threads_per_job(jobs: int) -> int:
    return max(1, usable_cores() // jobs)


def jobs_at_once(planned: list, executor: str, jobs: int | None, device: str) -> int:
    """How many of `planned`'s jobs run at the same time: `--jobs`, else RNNREG_JOBS, else the default,
    never more than there are jobs to run."""
    to_run = sum(1 for entry in planned if entry.runs)
    if executor == "local" and jobs is None and os.environ.get(JOBS_ENV):
        value = os.environ[JOBS_ENV]
        if not value.isdigit() or int(value) < 1:
            raise RnnregError(f"{JOBS_ENV}={value!r}: expected a whole number of jobs, 1 or more")
        jobs = int(value)
    if executor == "ray":  # --jobs N: N tasks share this machine; without it a task takes every core
        return jobs or 1
    return max(1, min(jobs or default_jobs(device), to_run))


_worker_runner = None  # one runner per worker process, built on its first job (plugins, data cache)
_worker_device = None
_worker_job = None  # (job, index) in flight, which the worker's progress names


class Terminated(KeyboardInterrupt):
    """SIGTERM in the driver: unwinds exactly as Ctrl-C does, and says which of the two it was (exit 143)."""


def interrupt_on_signal(signum, frame) -> None:
    """In the driver, SIGTERM (schedulers, `kill`) is Ctrl-C: a KeyboardInterrupt, of the Terminated kind."""
    raise Terminated(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_as_interrupt():
    """While a driver runs (`run`, `tune`): SIGTERM unwinds as Ctrl-C does (checkpoints kept, workers told),
    and the handler that was there before comes back afterwards."""
    previous = signal.signal(signal.SIGTERM, interrupt_on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_stopping = False  # set in a worker once it is told to stop: it takes no further job
_in_job = False  # a worker between jobs just stops taking them; one in a job unwinds it


def stop_on_signal(signum, frame) -> None:
    """SIGTERM (schedulers, `kill`) stops a worker's job as Ctrl-C does: KeyboardInterrupt unwinds it, its
    lock is released and its last epoch checkpoint is kept for the rerun to resume from. Raised once: a
    second signal must not interrupt that unwinding."""
    global _stopping
    if not _stopping:
        _stopping = True
        if _in_job:
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


_worker_events = None  # a local worker's queue to the driver's progress display


DRIVER_POLL_SECONDS = 1.0  # how often a local worker looks for its driver
UNWIND_SECONDS = 60.0  # how long a worker whose driver died lets its job unwind before it exits regardless


def _init_worker(gpu_slots, events=None, driver: int | None = None) -> None:
    """A local worker claims a GPU of its own when there are several (CUDA_VISIBLE_DEVICES order), sends
    its progress to the driver through `events`, stops its job on SIGTERM or SIGINT, and dies with its
    driver (pid `driver`), however that one ended."""
    global _worker_device, _worker_events
    _worker_device = None if gpu_slots is None else f"cuda:{gpu_slots.get()}"
    _worker_events = events
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    if driver is not None:
        threading.Thread(target=_exit_with_driver, args=(driver,), name="driver watch", daemon=True).start()


def _exit_with_driver(driver: int) -> None:
    """A driver killed with SIGKILL tells its workers nothing, and a worker left behind would go on training
    queued jobs and then block forever on a queue nobody reads. So each worker watches for its parent to
    change (the driver is gone: the worker was re-parented); then it stops its job as SIGTERM does (the
    lock is released, the last epoch checkpoint kept for the rerun) and exits at once, without flushing
    queues that no one will read."""
    while os.getppid() == driver:
        time.sleep(DRIVER_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + UNWIND_SECONDS
    while _in_job and time.monotonic() < deadline:
        time.sleep(0.1)
    os._exit(143)


def run_job(spec: WorkerSpec, planned, index: int | None = None):
    """Run one planned job in a worker (a process of the pool, or a Ray task) and write its result; a
    `NotRun` when another process holds the job or the worker is stopping. A pool's worker relays its
    progress (start, epochs, MC passes, warnings) to the driver, tagged with the job's `index`; a Ray task,
    which has no such channel, prints a line per epoch."""
    global _worker_runner
    from rnnreg.jobs import NotRun, job_name
    from rnnreg.plugins import load_plugins
    from rnnreg.runner import Runner

    global _in_job
    if _stopping:
        return NotRun("not started: the run was interrupted")

    torch.set_num_threads(spec.threads)
    global _worker_job
    _worker_job = planned.job, index
    if _worker_events is not None:
        _worker_events.put(("start", {"index": index}))
    if _worker_runner is None:
        def report(event: str, info: dict) -> None:
            if _worker_events is not None:
                if event in ("epoch", "evaluating", "warning"):
                    _worker_events.put((event, {**info, "index": _worker_job[1]}))
                return
            label = job_name(_worker_job[0])  # a Ray task: one line per epoch on stderr
            if event == "epoch":
                metric = next(((k, v) for k, v in info.items() if MetricName.parse(k).split == "valid"), None)
                shown = f": {metric[0]} {metric[1]:.4g}" if metric else ""
                print(f"  [{label}] epoch {info['epoch']}/{info['epochs']}{shown}", flush=True)
            elif event == "warning":
                print(f"  [{label}] warning: {info['message']}", flush=True)

        device = _worker_device or spec.device
        _worker_runner = Runner(load_plugins(spec.plugins_dir), Path(spec.results_dir), device=device,
                                data_dir=Path(spec.data_dir) if spec.data_dir else None, resume=spec.resume,
                                observers=spec.observers, report=report)
    _in_job = True
    try:
        # The driver kept its regularizer: a worker builds its own (once per configuration).
        return _worker_runner.run_and_write(planned.in_this_process(_worker_runner.plugins))
    finally:
        _in_job = False


def failed_result(planned, error: str) -> dict:
    """The result of a job whose worker never came back (killed, out of memory, retries spent)."""
    return planned.result_header() | {"status": "failed", "error": error,
                                      "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def run_planned(runner, planned: list, *, executor: str = "local", jobs: int | None = None,
                address: str | None = None, plugins_dir: str | None = None) -> list[dict]:
    """Run the jobs `Runner.plan` said must run (PlannedJobs), on `executor`; results in the order they
    finish."""
    todo = [(index, entry) for index, entry in enumerate(planned, 1) if entry.runs]
    # With Ray, --jobs N says how many tasks share this machine's cores (cores // N CPUs each); without it a
    # task takes them all, as one local job does.
    ray_threads = threads_per_job(jobs or 1)
    jobs = jobs_at_once(planned, executor, jobs, runner.device)
    if executor == "local" and (jobs == 1 or len(todo) <= 1):
        return runner.run([entry.job for entry in planned], planned)
    for index, entry in enumerate(planned, 1):
        if not entry.runs:
            runner.report("skip", _info(planned, index, entry))
    threads = threads_per_job(jobs) if executor == "local" else ray_threads
    spec = WorkerSpec(plugins_dir, str(runner.results_dir), runner.device,
                      str(runner.data_dir) if runner.data_dir else None, runner.resume, threads, runner.observers)
    if executor == "local":
        return _run_pool(runner, planned, todo, spec, jobs)
    if executor == "ray":
        return _run_ray(runner, planned, todo, spec, address)
    raise RnnregError(f"unknown executor {executor!r} (executors: local, ray)")


def _info(planned, index, entry) -> dict:
    return {"index": index, "total": len(planned), "job": entry.job, "path": entry.path, "why": entry.why}


def _run_pool(runner, planned, todo, spec: WorkerSpec, jobs: int) -> list[dict]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
    gpu_slots = None
    if torch.device(spec.device).type == "cuda" and torch.cuda.device_count() > 1:
        gpu_slots = context.Queue()
        for k in range(jobs):
            gpu_slots.put(k % torch.cuda.device_count())
    results: list[dict] = []
    events = context.Queue()
    relay = threading.Thread(target=_relay_events, args=(events, runner, planned), daemon=True)
    relay.start()
    with futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                                     initargs=(gpu_slots, events, os.getpid())) as pool:
        running = {}
        for index, entry in todo:
            running[pool.submit(run_job, spec, entry, index)] = (index, entry)
        try:
            for done in futures.as_completed(running):
                index, entry = running[done]
                try:
                    result = done.result()
                except futures.process.BrokenProcessPool as exc:  # a worker was killed: its checkpoint stays
                    result = failed_result(entry, f"worker process died ({exc}); rerun to resume it")
                _finished(runner, _info(planned, index, entry), result, results)
        except KeyboardInterrupt:
            # The driver was told to stop (SIGINT, SIGTERM): tell the workers too — a SIGTERM sent to the driver
            # alone would otherwise leave them training while the pool waits for them — and take no new job.
            for future in running:
                future.cancel()
            for process in list(pool._processes.values()):  # no public handle on a pool's processes
                if process.is_alive():
                    process.terminate()
            raise
        finally:
            events.put(None)
            relay.join(timeout=5)
    return results


def _relay_events(events, runner, planned) -> None:
    """In the driver: hand the workers' progress events to the runner's display, with the job they are
    about (a worker sends only its index), until told to stop."""
    while (message := events.get()) is not None:
        event, info = message
        if event == "start":
            index = info["index"]
            info = _info(planned, index, planned[index - 1])
        runner.report(event, info)


def _finished(runner, info: dict, result, results: list[dict]) -> None:
    """Report a job that came back from a worker: its result, or why it did not run there."""
    from rnnreg.jobs import NotRun

    if isinstance(result, NotRun):
        runner.report("not-run", {**info, "reason": result.reason})
    else:
        results.append(result)
        runner.report("done", {**info, "result": result})


def import_ray():
    try:
        import ray
    except ImportError:
        raise RnnregError('--executor ray needs Ray, which is not installed: pip install "rnnreg[ray]"') from None
    return ray


def _run_ray(runner, planned, todo, spec: WorkerSpec, address: str | None) -> list[dict]:
    ray = import_ray()
    address = address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=True, include_dashboard=False)
    cuda = torch.device(spec.device).type == "cuda"
    remote = ray.remote(num_cpus=0 if cuda else spec.threads, num_gpus=1 if cuda else 0,
                        max_retries=RAY_RETRIES)(run_job)
    running = {}
    for index, entry in todo:
        runner.report("start", _info(planned, index, entry))
        running[remote.remote(spec, entry)] = (index, entry)
    results: list[dict] = []
    try:
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            index, entry = running.pop(done[0])
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayError as exc:  # retries spent: record why, keep the checkpoint
                result = failed_result(entry, f"Ray task failed after {RAY_RETRIES} retries: {type(exc).__name__}: "
                                              f"{str(exc).splitlines()[0] if str(exc) else ''}")
                write_atomic(Path(entry.path), result)
            _finished(runner, _info(planned, index, entry), result, results)
    except KeyboardInterrupt:  # stop the tasks as Ctrl-C stops a local job: KeyboardInterrupt in each
        for ref in running:
            ray.cancel(ref)
        raise
    return results

