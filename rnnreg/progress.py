"""Progress of a run on stderr, as a person watching it needs it: a line per finished job; in a terminal, a
bar for the run and one for the epochs of the job in flight, with elapsed time and ETAs; in a log file, a
line per epoch. It listens to the runner's events (skip, start, epoch, warning, not-run, done)."""

from __future__ import annotations

import statistics
import time

from rich.console import Console
from rich.markup import escape

from rnnreg.jobs import job_name


class Reporter:
    """Progress of a run on stderr: a line per finished job; in a terminal, bars for the run and for the
    epochs of the job in flight, with elapsed time and ETAs; in a log file, a line per epoch."""

    def __init__(self, console: Console, planned: list[tuple]):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console, self.current = console, ""
        self.to_run = sum(1 for *_, why in planned if why)
        self.finished = 0  # jobs with a result: skipped or done
        self.job_seconds: list[float] = []  # wall time of each job this run trained
        self.run_start = self.job_start = time.perf_counter()
        self.first_epoch: int | None = None  # the job's first epoch in this process (a resumed job's is not 1)
        self.bars = None
        if console.is_terminal:
            # Two lines: the run (which job is in flight, its run ETA) and the job's epochs (metric, job ETA).
            self.bars = Progress(TextColumn("{task.description}"), BarColumn(bar_width=12), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[eta]}"), console=console, transient=True)
            self.jobs = self.bars.add_task("jobs", total=len(planned), eta="")
            self.epochs = self.bars.add_task("  epochs", total=None, eta="")

    def __enter__(self):
        if self.bars:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        if self.bars:
            self.bars.stop()

    def run_eta(self, job_left: float | None) -> str:
        """Seconds left for the run: this job's remainder plus the mean job time for the jobs after it."""
        remaining_jobs = self.to_run - len(self.job_seconds) - 1
        if not self.job_seconds and job_left is None:
            return ""
        if self.job_seconds:
            per_job = statistics.fmean(self.job_seconds)
        else:  # no job finished yet: this one's time so far plus what it has left
            per_job = (time.perf_counter() - self.job_start) + (job_left or 0)
        return f"run ETA {duration((job_left or 0) + max(remaining_jobs, 0) * per_job)}"

    @staticmethod
    def warn(console: Console, event: str, info: dict) -> None:
        """Before the progress display starts (while jobs are planned), only warnings are shown."""
        if event == "warning":
            console.print(f"[yellow]warning[/yellow]: {escape(info['message'])}")

    def __call__(self, event: str, info: dict) -> None:
        if event in ("skip", "start"):
            job = info["job"]
            where = f"[{info['index']}/{info['total']}]"
            self.current = escape(f"{where} {job_name(job)}")
        if event == "start":
            self.job_start, self.first_epoch = time.perf_counter(), None
            if info["why"] not in ("new", "forced"):
                self.console.print(f"{self.current}: {escape(info['why'])}")
            if self.bars:  # a fresh epoch bar per job, so its timer starts at zero
                self.bars.update(self.jobs, description=self.current)
                self.bars.reset(self.epochs, description="  epochs", completed=0, total=None, eta="")
        if event == "skip":
            self.finished += 1
            self.console.print(f"{self.current}: result exists, skipped")
        elif event == "epoch":
            elapsed = time.perf_counter() - self.job_start
            if self.first_epoch is None:
                self.first_epoch = info["epoch"]
            job_left = elapsed / (info["epoch"] - self.first_epoch + 1) * (info["epochs"] - info["epoch"])
            shown = ", ".join(f"{k} {v:.4g}" for k, v in info.items() if k not in ("epoch", "epochs"))
            eta = f"job ETA {duration(job_left)} · {self.run_eta(job_left)}"
            if self.bars:
                self.bars.update(self.epochs, completed=info["epoch"], total=info["epochs"],
                                 description=f"  epoch · {shown}", eta=f"job ETA {duration(job_left)}")
                self.bars.update(self.jobs, eta=self.run_eta(job_left))
            else:
                self.console.print(f"  epoch {info['epoch']}/{info['epochs']}: {shown} "
                                   f"({duration(elapsed)} elapsed, {eta})")
        elif event == "warning":
            self.warn(self.console, event, info)
        elif event == "not-run":
            job = info["job"]
            label = escape(f"[{info['index']}/{info['total']}] {job_name(job)}")
            self.console.print(f"{label}: {escape(info['reason'])}")
        elif event == "done":
            self.finished += 1
            result = info["result"]
            self.job_seconds.append(result.get("wall_seconds") or time.perf_counter() - self.job_start)
            job = info["job"]  # with parallel workers, jobs finish in any order: name this one
            label = escape(f"[{info['index']}/{info['total']}] {job_name(job)}")
            if result["status"] == "ok":
                primary = f"valid_{result['task']['primary_metric']}"
                self.console.print(f"{label}: {primary} {result['metrics'][primary]['value']:.4g} "
                                   f"({result['wall_seconds']:.1f}s)")
            else:
                self.console.print(f"{label}: [red]failed[/red]: {escape(str(result['error']))}")
        if self.bars and event in ("skip", "done", "not-run"):
            self.bars.advance(self.jobs)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"
