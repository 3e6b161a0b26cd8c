"""Jobs: a suite expanded into (task, regularizer entry, seed) jobs, and the full config each one hashes to.

Both sides use this: the runner (a job's config hash is its result file's cache key) and the reading side
(the claims of a suite are checked on the results whose hash is one of the suite's jobs), so the reading
side never builds a training runner to learn what a suite's jobs are.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import rnnreg
from rnnreg.dropout import check_plan_fits
from rnnreg.errors import RnnregError
from rnnreg.regularizer import Regularizer, built_regularizer
from rnnreg.results import SCHEMA_VERSION
from rnnreg.storage import portable_path
from rnnreg.suite import RegularizerEntry, Suite


@dataclass(frozen=True)
class NotRun:
    """What a job that was planned but not trained here returns instead of a result, and why."""

    reason: str


@dataclass
class Job:
    task: str
    regularizer: RegularizerEntry
    seed: int
    model: dict
    train: dict
    evaluation: dict
    suite: dict | None = None  # {"name", "source"}: where its claims are; not part of the config hash
    # `rnnreg tune`: {"role": "trial" | "final", "group", "sampler", "sampler_seed", "trials"[, "trial"]}, part of
    # the config (a tuned job is its own experiment: its own cache key and its own board section)
    tuning: dict | None = None
    study: dict | None = None  # the Optuna study and trial a tuning job belongs to, recorded in its result


@dataclass(frozen=True)
class PlannedJob:
    """A job as the runner planned it, carried whole from planning to the executors, the tuner, `reproduce`
    and the command line: its resolved config, that config's hash (the cache key), the result file's path,
    why it runs (None: its finished result stands and is read instead) and the regularizer it trains with.

    The regularizer stays in the process that built it: a worker process gets the job without it and builds
    its own (`in_this_process`), so a plugin loaded from a folder never has to be pickled by reference."""

    job: Job
    config: dict
    digest: str
    path: Path
    why: str | None
    regularizer: Regularizer | None = field(default=None, compare=False, repr=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "regularizer": None}

    def in_this_process(self, plugins) -> PlannedJob:
        """This job with its regularizer built here (once per configuration per process)."""
        if self.regularizer is not None:
            return self
        entry = self.job.regularizer
        return replace(self, regularizer=built_regularizer(entry.spec, entry.params, plugins.regularizers))

    @property
    def runs(self) -> bool:
        return self.why is not None

    def result_header(self) -> dict:
        """What every result of this job holds, trained or failed: its config and hash, what they name, and
        the code's release."""
        return {"schema_version": SCHEMA_VERSION, "rnnreg_version": rnnreg.__version__, "config": self.config,
                "config_hash": self.digest, "task": dict(self.config["task"]),
                "regularizer": self.config["regularizer"], "seed": self.job.seed, "suite": self.job.suite,
                **({"study": self.job.study} if self.job.study is not None else {})}


def expand(suite: Suite, plugins) -> list[Job]:
    jobs = []
    for task_name, overrides in suite.tasks.items():
        task_cls = plugins.tasks.get(task_name).cls
        model = {**task_cls.model, **overrides["model"]}
        train = {**task_cls.train, **overrides["train"]}
        for entry in suite.regularizers:
            for seed in suite.seeds:
                jobs.append(Job(task_name, entry, seed, model, {**train, **entry.train},
                                {**suite.evaluation, **entry.evaluation},
                                {"name": suite.name, "source": portable_path(suite.source)}))
    return jobs


def job_name(job: Job, task_last: bool = False) -> str:
    """How progress lines name a job: task · label · seed, and a tuning trial's number. `task_last` puts
    the task at the end, for a line that may be cut short (what tells jobs apart comes first)."""
    trial = (job.tuning or {}).get("trial")
    name = f"{job.regularizer.label} · seed {job.seed}" + ("" if trial is None else f" · trial {trial}")
    return f"{name} · {job.task}" if task_last else f"{job.task} · {name}"


def torch_version() -> str:
    """torch's version as `torch.__version__` says it, read from its installed metadata when torch is not
    imported yet (the reading commands hash configs without it; a test pins the two equal)."""
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"].__version__
    from importlib.metadata import version

    return version("torch")


def config_of(job: Job, plugins, device: str = "cpu") -> dict:
    """The full resolved config of a job on `device`: what its hash, and so its cache key, is made of."""
    task_cls = plugins.tasks.get(job.task).cls
    regularizer = built_regularizer(job.regularizer.spec, job.regularizer.params, plugins.regularizers)
    try:
        check_plan_fits(regularizer.plan(), job.model.get("cell", "lstm"), job.model.get("num_layers"))
    except RnnregError as exc:
        raise RnnregError(f"{job.regularizer.label} on {job.task}: {exc}") from None
    except Exception:  # a plan that raises is the plugin's failure: its job records it
        pass
    config = {
        "schema_version": SCHEMA_VERSION,
        "versions": {"rnnreg": rnnreg.NUMERICS_VERSION, "torch": torch_version()},
        "task": {"name": job.task, "version": task_cls.version, "kind": task_cls.kind},
        "regularizer": {"label": job.regularizer.label, **regularizer.resolved()},
        "model": job.model,
        "train": job.train,
        "evaluation": job.evaluation,
        "seed": job.seed,
        "device": device.split(":")[0],  # torch.device(device).type, without importing torch
    }
    if job.tuning is not None:  # only then: every untuned job keeps the hash it always had
        config["tuning"] = job.tuning
    return config
