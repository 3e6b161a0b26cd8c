"""Progress of a run on stderr, as a person watching it needs it: a line per finished job; in a terminal, a
bar for the run and one for each job in flight (its epochs, then its MC passes), with elapsed time and
ETAs; in a log file, a line per epoch. It listens to the runner's events (skip, start, epoch, evaluating,
warning, not-run, done), which with parallel workers arrive from a thread that relays the workers' events.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Column

from rnnreg.jobs import job_name
from rnnreg.metrics import Result


@dataclass
class JobInFlight:
    label: str  # "[3/28] synthetic-lm · variational · seed 0", markup-escaped
    start: float
    bar: Any = None  # its line in the terminal display (a rich TaskID)
    first_epoch: int | None = None  # its first epoch in this process (a resumed job's is not 1)
    left: float | None = None  # seconds it has left, from its epochs so far
    mc_split: str | None = None  # the split whose MC passes it is running (logs say each once)


class Reporter:
    """Progress of a run on stderr: a line per finished job; in a terminal, bars for the run and for each
    job in flight, with elapsed time and ETAs; in a log file, a line per epoch. `workers`: how many jobs
    run at once (their lines are then prefixed with the job's name in a log)."""

    def __init__(self, console: Console, planned: list, workers: int = 1):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console, self.workers = console, max(1, workers)
        self.to_run = sum(1 for entry in planned if entry.runs)  # PlannedJobs
        self.finished = 0  # jobs with a result: skipped or done
        self.job_seconds: list[float] = []  # wall time of each job this run trained
        self.in_flight: dict[int | None, JobInFlight] = {}  # None: a job run in this process, unnamed
        self.closed: set[int | None] = set()  # jobs done or not run: a worker's late word about them is stale
        self.lock = threading.Lock()  # events come from the main thread and from the workers' relay
        self.bars = None
        if console.is_terminal:
            # A line for the run (jobs done, its ETA) and one per job in flight (its epochs or MC passes).
            name = Column(no_wrap=True, overflow="ellipsis", max_width=max(20, console.width - 56))
            self.bars = Progress(TextColumn("{task.description}", table_column=name), BarColumn(bar_width=10),
                                 TextColumn("{task.fields[count]}"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[eta]}"), console=console, transient=True)
            self.jobs = self.bars.add_task("jobs", total=len(planned), count=f"0/{len(planned)}", eta="")

    def __enter__(self):
        if self.bars:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        if self.bars:
            self.bars.stop()

    def run_eta(self) -> str:
        """Seconds left for the run: the jobs in flight's remainders plus the mean job time for the jobs not
        started, shared among the workers."""
        waiting = max(self.to_run - len(self.job_seconds) - len(self.in_flight), 0)
        lefts = [job.left for job in self.in_flight.values() if job.left is not None]
        if not self.job_seconds and not lefts:
            return ""
        if self.job_seconds:
            per_job = statistics.fmean(self.job_seconds)
        else:  # no job finished yet: a job in flight's time so far plus what it has left
            job = next(job for job in self.in_flight.values() if job.left is not None)
            per_job = (time.perf_counter() - job.start) + (job.left or 0)
        return f"run ETA {duration((sum(lefts) + waiting * per_job) / self.workers)}"

    @staticmethod
    def warn(console: Console, event: str, info: dict) -> None:
        """Before the progress display starts (while jobs are planned), only warnings are shown."""
        if event == "warning":
            console.print(f"[yellow]warning[/yellow]: {escape(info['message'])}")

    def __call__(self, event: str, info: dict) -> None:
        with self.lock:
            self.handle(event, info)

    def handle(self, event: str, info: dict) -> None:
        index = info.get("index")
        if index in self.closed or (event in ("epoch", "evaluating") and index is not None
                                    and index not in self.in_flight):
            return  # relayed after the job's end was seen (workers' events and results travel apart)
        if event in ("skip", "start", "not-run", "done"):
            label = escape(f"[{info['index']}/{info['total']}] {job_name(info['job'])}")
        if event == "start":
            job = self.in_flight[index] = JobInFlight(label, time.perf_counter())
            if info["why"] not in ("new", "forced"):
                self.console.print(f"{label}: {escape(info['why'])}")
            if self.bars:
                short = escape(f"[{info['index']}/{info['total']}] {job_name(info['job'], task_last=True)}")
                job.bar = self.bars.add_task(f"  {short}", total=None, count="", eta="")
        elif event == "skip":
            self.finished += 1
            self.console.print(f"{label}: result exists, skipped")
        elif event == "epoch":
            self.epoch(self.job(index), info)
        elif event == "evaluating":
            self.evaluating(self.job(index), info)
        elif event == "warning":
            self.warn(self.console, event, info)
        elif event == "not-run":
            self.forget(index)
            self.console.print(f"{label}: {escape(info['reason'])}")
        elif event == "done":
            self.finished += 1
            job = self.forget(index)
            result = info["result"]
            self.job_seconds.append(result.get("wall_seconds") or time.perf_counter() - job.start)
            if result["status"] == "ok":
                view = Result(result)
                self.console.print(f"{label}: {view.name()} {view.value():.4g} "
                                   f"({result['wall_seconds']:.1f}s)")
            else:
                self.console.print(f"{label}: [red]failed[/red]: {escape(str(result['error']))}")
        if self.bars and event in ("skip", "done", "not-run"):
            self.bars.advance(self.jobs)
            total = self.bars.tasks[self.jobs].total
            self.bars.update(self.jobs, count=f"{self.finished}/{total}", eta=self.run_eta())

    def job(self, index: int | None) -> JobInFlight:
        """The job an event is about: the one named by index, else the one in flight (jobs run one at a time
        send no index), else (a runner driven bare, as in tests) one made up."""
        if index is None and len(self.in_flight) == 1:
            return next(iter(self.in_flight.values()))
        if index not in self.in_flight:
            self.in_flight[index] = JobInFlight(f"job {index}", time.perf_counter())
        return self.in_flight[index]

    def forget(self, index: int | None) -> JobInFlight:
        if index is not None:
            self.closed.add(index)
        job = self.in_flight.pop(index, None) or JobInFlight("", time.perf_counter())
        if self.bars and job.bar is not None:
            self.bars.remove_task(job.bar)
        return job

    def epoch(self, job: JobInFlight, info: dict) -> None:
        elapsed = time.perf_counter() - job.start
        if job.first_epoch is None:
            job.first_epoch = info["epoch"]
        job.left = elapsed / (info["epoch"] - job.first_epoch + 1) * (info["epochs"] - info["epoch"])
        metrics = {k: v for k, v in info.items() if k not in ("epoch", "epochs", "index")}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        if self.bars:  # the bar has room for the value only: the metric is the task's validation one
            values = " ".join(f"{v:.4g}" for v in metrics.values())
            self.bars.update(job.bar, completed=info["epoch"], total=info["epochs"],
                             count=f"epoch {info['epoch']}/{info['epochs']} · {values}",
                             eta=f"job ETA {duration(job.left)}")
            self.bars.update(self.jobs, eta=self.run_eta())
        else:
            who = f"{job.label} " if self.workers > 1 else ""
            self.console.print(f"  {who}epoch {info['epoch']}/{info['epochs']}: {shown} "
                               f"({duration(elapsed)} elapsed, job ETA {duration(job.left)} · {self.run_eta()})")

    def evaluating(self, job: JobInFlight, info: dict) -> None:
        """MC passes after the last epoch: in a terminal the job's bar follows them; a log says each split
        once, when its passes start."""
        job.left = None  # the epochs' pace says nothing about the passes
        if self.bars:
            self.bars.update(job.bar, completed=info["fraction"], total=1.0,
                             count=f"MC ×{info['mc_passes']} {info['mc_split']} {100 * info['fraction']:.0f}%",
                             eta="")
        elif job.mc_split != info["mc_split"]:
            who = f"{job.label} " if self.workers > 1 else ""
            self.console.print(f"  {who}MC: {info['mc_passes']} passes over {info['mc_split']}")
        job.mc_split = info["mc_split"]


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"
