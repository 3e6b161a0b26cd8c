"""`rnnreg reproduce`: rerun committed results here and say, per job, how far they reproduce.

A rerun on the machine that wrote a result is bit-identical; on another machine of the same kind it is not
(float rounding differs between CPU models and kernel paths, and training amplifies it), yet it should stay
within seed noise. So each rerun gets one of three verdicts:

    identical   every metric equal to the committed one, bit for bit;
    within      every metric within the margin of the committed one: where the committed row has at least 3
                seeds, 1.96·√2·s with s its standard deviation over seeds — the 95 % range of the difference
                between two independent draws of that row, which is what a rerun whose rounding differs
                amounts to once training has amplified it; for a row with fewer seeds, `relative_margin` of
                the value;
    different   some metric further away (the command then exits 1),

or `not comparable` when the committed experiment cannot be rebuilt here (another numerics release of
rnnreg, another plugin version, a setting that no longer resolves the same), which says what differs instead
of training something else. Another torch build or device is the same experiment with other rounding, like
another machine: it is rerun, and the verdict names what differs (`environment`).

Each rerun uses the committed result's torch thread count where this machine has that many cores: the
thread count changes how reductions split, and so the rounding.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rnnreg import identity
from rnnreg.identity import ENVIRONMENT_KEYS, config_hash, seedless
from rnnreg.jobs import Job, config_of
from rnnreg.params import overrides_of
from rnnreg.suite import RegularizerEntry

IDENTICAL, WITHIN, DIFFERENT, NOT_COMPARABLE = "identical", "within", "different", "not comparable"


@dataclass(frozen=True)
class MetricCheck:
    name: str
    committed: float
    here: float
    margin: float

    @property
    def verdict(self) -> str:
        if self.here == self.committed:
            return IDENTICAL
        return WITHIN if abs(self.here - self.committed) <= self.margin else DIFFERENT


@dataclass
class Verdict:
    task: str
    label: str
    seed: int
    status: str
    reason: str = ""
    metrics: list[MetricCheck] = field(default_factory=list)
    environment: str = ""  # what differs from the committed run besides the machine: torch's build, the device

    def as_dict(self) -> dict:
        return {"task": self.task, "regularizer": self.label, "seed": self.seed, "verdict": self.status,
                "reason": self.reason, "environment": self.environment,
                "metrics": {m.name: {"committed": m.committed, "here": m.here, "margin": m.margin,
                                     "verdict": m.verdict} for m in self.metrics}}


def job_of(result: dict) -> Job:
    """The job that wrote a result, rebuilt from its recorded config."""
    config = result["config"]
    regularizer = config["regularizer"]
    entry = RegularizerEntry(regularizer["spec"], overrides_of(regularizer["params"]), label=regularizer["label"])
    return Job(config["task"]["name"], entry, config["seed"], dict(config["model"]), dict(config["train"]),
               dict(config["evaluation"]), suite=result.get("suite"), tuning=config.get("tuning"))


def differing_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            keys += differing_keys(left, right, f"{prefix}{key}.")
        elif left != right:
            keys.append(f"{prefix}{key}: {left!r} committed, {right!r} here")
    return keys


@dataclass(frozen=True)
class Rebuilt:
    """A committed result's job as it runs here: the job and its config hash here, or None and why it is
    not the same experiment; and what differs in the environment (torch's build, the device)."""

    job: Job | None
    digest: str = ""
    why: str = ""
    environment: str = ""


def rebuild(result: dict, plugins, device: str = "cpu") -> Rebuilt:
    job = job_of(result)
    here = config_of(job, plugins, device)
    committed = result["config"]
    # The experiment: what the user chose, run by the same numerics release of rnnreg.
    different = differing_keys({**identity.chosen(committed), "numerics": committed["versions"]["rnnreg"]},
                               {**identity.chosen(here), "numerics": here["versions"]["rnnreg"]})
    if different:
        return Rebuilt(None, why="its config differs here (" + "; ".join(different[:3]) + ")")
    environment = differing_keys({key: committed.get(key) for key in ENVIRONMENT_KEYS},
                                 {key: here.get(key) for key in ENVIRONMENT_KEYS})
    return Rebuilt(job, config_hash(here), environment="; ".join(environment))


# Two independent draws of one row differ by N(0, 2s²): 95 % of such differences lie within 1.96·√2·s.
SEED_NOISE = 1.96 * math.sqrt(2)


def margins(committed: list[dict], relative_margin: float, min_seeds: int = 3) -> dict[tuple, dict[str, float]]:
    """Per (task, label, config without the seed): each metric's margin, 1.96·√2 × the standard deviation
    over the row's seeds; rows with fewer than `min_seeds` seeds are left out (compare() then uses
    relative_margin × |value|)."""
    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for result in committed:
        if result.get("status") == "ok":
            for name, entry in result["metrics"].items():
                values[row_key(result)][name].append(entry["value"])
    return {key: {name: SEED_NOISE * statistics.stdev(v) for name, v in by_name.items() if len(v) >= min_seeds}
            for key, by_name in values.items()}


def row_key(result: dict) -> tuple:
    return result["config"]["task"]["name"], result["config"]["regularizer"]["label"], seedless(result["config"])


def compare(committed: dict, here: dict, row_margins: dict[str, float], relative_margin: float) -> Verdict:
    verdict = Verdict(committed["task"]["name"], committed["regularizer"]["label"], committed["seed"], IDENTICAL)
    if here.get("status") != "ok":
        verdict.status, verdict.reason = DIFFERENT, f"failed here: {here.get('error')}"
        return verdict
    for name, entry in sorted(committed["metrics"].items()):
        if name not in here["metrics"]:
            verdict.status, verdict.reason = DIFFERENT, f"no {name} here"
            return verdict
        value = entry["value"]
        margin = row_margins.get(name, relative_margin * abs(value))
        verdict.metrics.append(MetricCheck(name, value, here["metrics"][name]["value"], margin))
    order = (IDENTICAL, WITHIN, DIFFERENT)
    verdict.status = max((m.verdict for m in verdict.metrics), key=order.index, default=IDENTICAL)
    return verdict


def choose(committed: list[dict], tasks: Iterable[str], labels: Iterable[str], seeds: set[int]) -> list[dict]:
    """The finished committed results to rerun: these tasks and row labels (all when none are named)."""
    tasks, labels = set(tasks), set(labels)
    return [r for r in committed if r["status"] == "ok" and r["seed"] in seeds
            and (not tasks or r["task"]["name"] in tasks) and (not labels or r["regularizer"]["label"] in labels)]


def reproduce(committed: list[dict], chosen: list[dict], runner, relative_margin: float,
              display: Callable[[list], Any] | None = None) -> list[Verdict]:
    """Rerun `chosen` with `runner` (its results folder holds the reruns; one already there is reused) and
    compare each with its committed result; `committed` gives the rows' seed spreads. `display(planned)`,
    when given, is the progress display the runner reports to while the jobs run."""
    import torch

    from rnnreg.results import read_result

    verdicts, jobs, of_job, environment = [], [], {}, {}
    for result in chosen:
        rebuilt = rebuild(result, runner.plugins, runner.device)
        if rebuilt.job is None:
            verdicts.append(Verdict(result["task"]["name"], result["regularizer"]["label"], result["seed"],
                                    NOT_COMPARABLE, rebuilt.why))
            continue
        jobs.append(rebuilt.job)
        of_job[rebuilt.digest], environment[rebuilt.digest] = result, rebuilt.environment
    planned = runner.plan(jobs)
    reporter = display(planned) if display else None
    if reporter is not None:
        runner.report = reporter
    threads_before = torch.get_num_threads()
    try:
        with reporter if reporter is not None else contextlib.nullcontext():
            for entry in planned:  # each job with the committed thread count: it decides the rounding
                threads = of_job[entry.digest].get("machine", {}).get("torch_threads") or threads_before
                torch.set_num_threads(min(threads, os.cpu_count() or threads))
                runner.run([entry.job], [entry])
    finally:
        torch.set_num_threads(threads_before)
    row_margins = margins(committed, relative_margin)
    for entry in planned:
        committed_result = of_job[entry.digest]
        verdict = compare(committed_result, read_result(entry.path), row_margins.get(row_key(committed_result), {}),
                          relative_margin)
        verdict.environment = environment[entry.digest]
        verdicts.append(verdict)
    return sorted(verdicts, key=lambda v: (v.task, v.label, v.seed))
