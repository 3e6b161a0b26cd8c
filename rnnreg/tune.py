"""Equal-budget tuning: the same number of trials, the same sampler and sampler seed and the same shared
knobs for every regularizer of a suite, then the best configuration of each retrained over several seeds.

The tuner is Optuna, driven by ask-and-tell from this process: each trial is an ordinary rnnreg job, run
by the executors that exist (local, --jobs, Ray), config-hashed, cached, checkpointed and locked like any
other. One study per regularizer and setting, named `<group>/<task>/<label>/<setting digest>`, in an
Optuna storage (by default an SQLite file in the results folder). Trials select on the validation metric
only: the value told to Optuna is the job's `valid_<primary metric>`; the test split is never read here.

Resuming is the results folder's and the study's business together. A trial is asked (RUNNING in the
study), its job planned with the trial's number and values in its config, run, and told. A driver killed
between ask and tell leaves RUNNING trials behind; the next driver rebuilds each one's job from the
trial's stored values — the same config, so the same hash: a finished result is read instead of trained,
an unfinished job resumes from its checkpoint, a job another process holds is left to it — and tells
it. So a study ends with exactly N finished trials per regularizer, none counted twice and none lost.

Each trial asks with a sampler seeded by (sampler seed, trial number), so the k-th trial's values do not
depend on how often the driver was restarted, and regularizers with the same dimensions are searched at
the same points (common random numbers, which makes their comparison paired).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rnnreg.errors import RnnregError
from rnnreg.jobs import Job, expand
from rnnreg.results import UnreadableResult, config_hash, portable_path, read_result
from rnnreg.runner import Runner, check_results_dir
from rnnreg.searchspace import Dimension, shared_space, space_of
from rnnreg.suite import RegularizerEntry, Suite

SAMPLERS = ("random", "tpe")
DEFAULT_STORAGE_FILE = "studies.sqlite3"


def default_storage(results_dir: Path) -> str:
    return f"sqlite:///{(Path(results_dir) / DEFAULT_STORAGE_FILE).resolve()}"


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise RnnregError('rnnreg tune needs Optuna, which is not installed: pip install "rnnreg[tune]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_sampler(optuna, name: str, seed: int, trial_number: int):
    # One seed per trial: the values of trial k are a function of (seed, k) alone, whatever was restarted.
    per_trial = int.from_bytes(hashlib.sha256(f"{seed}:{trial_number}".encode()).digest()[:4], "big")
    if name == "random":
        return optuna.samplers.RandomSampler(seed=per_trial)
    return optuna.samplers.TPESampler(seed=per_trial)


@dataclass
class Study:
    """One regularizer's study on one task: its jobs' template, its space and its Optuna study."""

    template: Job
    space: dict[str, Dimension]
    handle: Any  # optuna.Study
    name: str
    budget: int  # N, or 1 when there is nothing to tune

    def finished(self) -> list:
        return [t for t in self.handle.get_trials(deepcopy=False) if t.state.is_finished()]


@dataclass
class TuneOutcome:
    studies: list[Study]
    trials_run: int = 0
    finals: list[dict] = field(default_factory=list)
    tuner_seconds: float = 0.0  # ask + tell + storage, the tuner's own cost
    open_seconds: float = 0.0  # of which opening (or creating) the studies: once per run, not per trial


class Tuner:
    def __init__(self, runner: Runner, suite: Suite, plugins, *, trials: int, sampler: str = "random",
                 seed: int = 0, storage: str | None = None, final_seeds: int = 5,
                 run_jobs: Callable[[list[tuple]], None] | None = None,
                 report: Callable[[str], None] = lambda message: None):
        if sampler not in SAMPLERS:
            raise RnnregError(f"unknown sampler {sampler!r} (samplers: {', '.join(SAMPLERS)})")
        if suite.dropout_scale != 1.0:
            raise RnnregError(f"suite {suite.name!r} sets dropout_scale {suite.dropout_scale}: tuning searches the "
                              "rates itself, so tune a suite without dropout_scale")
        self.optuna = import_optuna()
        self.runner, self.suite, self.plugins = runner, suite, plugins
        self.trials, self.sampler, self.seed, self.final_seeds = trials, sampler, seed, final_seeds
        self.storage = storage or default_storage(runner.results_dir)
        self.run_jobs = run_jobs or (lambda planned: runner.run([p[0] for p in planned], planned))
        self.report = report
        self.group = f"{suite.name}/{sampler}-seed{seed}-n{trials}"
        self.tuner_seconds = 0.0
        self.open_seconds = 0.0
        self.shared = shared_space(suite.tune.get("shared") or {}, suite.source)

    def tuning(self, role: str, **extra: int) -> dict:
        # `shared`: the training knobs every regularizer tuned alike; their chosen values differ per row, so
        # the board leaves them out of the tuned section's key (one section for all the tuned rows).
        return {"role": role, "group": self.group, "sampler": self.sampler, "sampler_seed": self.seed,
                "trials": self.trials, "shared": sorted(self.shared), **extra}

    def studies(self) -> list[Study]:
        check_results_dir(self.runner.results_dir)  # the default storage lives there
        shared = self.shared
        studies = []
        # One template job per task and regularizer, at the suite's first seed: trials run one seed each.
        base = replace(self.suite, seeds=[self.suite.seeds[0]])
        for job in expand(base, self.plugins):
            narrowed = (self.suite.tune.get("space") or {}).get(job.regularizer.label)
            space = {**space_of(job.regularizer.spec, self.plugins.regularizers, job.regularizer.params, narrowed,
                                f"{self.suite.source}: tune.space"), **shared}
            # The template's config digest in the name: the same suite tuned with other settings (--set, -t)
            # is another study, never the continuation of this one.
            name = f"{self.group}/{job.task}/{job.regularizer.label}/{config_hash(self.runner.config_of(job))[:10]}"
            clock = time.perf_counter()
            try:
                handle = self.optuna.create_study(study_name=name, storage=self.storage, direction="minimize",
                                                  load_if_exists=True)
            except Exception as exc:  # a bad URL, a server that does not answer, a folder that cannot be written
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise RnnregError(f"cannot open the study storage {self.storage_label()!r}: {reason}") from None
            self.tuner_seconds += time.perf_counter() - clock
            self.open_seconds += time.perf_counter() - clock
            studies.append(Study(job, space, handle, name, self.trials if space else 1))
        return studies

    def trial_job(self, study: Study, number: int, values: dict[str, float]) -> Job:
        """The job of one trial: the template with the trial's values (training knobs go to `train`)."""
        template = study.template
        params = {**template.regularizer.params, **{k: v for k, v in values.items() if not k.startswith("train.")}}
        train = {**template.train, **{k[6:]: v for k, v in values.items() if k.startswith("train.")}}
        entry = RegularizerEntry(template.regularizer.spec, params, template.regularizer.label,
                                 dict(template.regularizer.train), dict(template.regularizer.evaluation))
        return replace(template, regularizer=entry, train=train, tuning=self.tuning("trial", trial=number),
                       study={"name": study.name, "storage": self.storage_label(), "trial": number,
                              "params": dict(values)})

    def storage_label(self) -> str:
        """The storage as a result records it: an SQLite file by its repository-relative path."""
        if self.storage.startswith("sqlite:///"):
            return "sqlite:///" + (portable_path(self.storage[len("sqlite:///"):]) or "")
        return self.storage.split("@")[-1]  # a server URL without its credentials

    def ask(self, study: Study) -> tuple[int, dict[str, float]]:
        clock = time.perf_counter()
        handle = study.handle
        handle.sampler = make_sampler(self.optuna, self.sampler, self.seed, len(handle.trials))
        trial = handle.ask({name: d.distribution() for name, d in study.space.items()})
        self.tuner_seconds += time.perf_counter() - clock
        return trial.number, dict(trial.params)

    def tell(self, study: Study, number: int, result: dict) -> None:
        clock = time.perf_counter()
        state = self.optuna.trial.TrialState
        if result["status"] == "ok":
            value = result["metrics"][f"valid_{result['task']['primary_metric']}"]["value"]
            study.handle.tell(number, value, skip_if_finished=True)
        else:
            study.handle.tell(number, state=state.FAIL, skip_if_finished=True)
        self.tuner_seconds += time.perf_counter() - clock

    def run(self, only_trials: bool = False) -> TuneOutcome:
        studies = self.studies()
        outcome = TuneOutcome(studies)
        # Random search does not learn from results: ask every remaining trial at once, so the executors can
        # run them all in parallel. TPE learns: one trial per study per round.
        while True:
            round_jobs: list[tuple[Study, int, Job]] = []
            for study in studies:
                running = [t for t in study.handle.trials if t.state.name == "RUNNING"]
                for trial in running:  # left by a driver that was killed: rebuild the very same job
                    round_jobs.append((study, trial.number, self.trial_job(study, trial.number, trial.params)))
                left = study.budget - len(study.finished()) - len(running)
                for _ in range(max(0, left) if self.sampler == "random" else min(1, max(0, left))):
                    number, values = self.ask(study)
                    round_jobs.append((study, number, self.trial_job(study, number, values)))
            if not round_jobs:
                break
            planned = self.runner.plan([job for *_, job in round_jobs])
            self.report(f"{len(planned)} trials to run or read ({sum(1 for p in planned if p[-1])} to train)")
            self.run_jobs(planned)
            told = 0
            for (study, number, _), (_, _, _, path, _) in zip(round_jobs, planned, strict=True):
                try:
                    result = read_result(path)
                except UnreadableResult:  # held by another process, or interrupted: stays RUNNING
                    continue
                self.tell(study, number, result)
                told += 1
            outcome.trials_run += told
            if not told:
                break  # every trial of this round is held elsewhere: nothing more to do here now
        for study in studies:
            missing = study.budget - len(study.finished())
            if missing:
                self.report(f"{study.name}: {missing} of {study.budget} trials still run elsewhere")
        outcome.tuner_seconds, outcome.open_seconds = self.tuner_seconds, self.open_seconds
        if not only_trials:
            outcome.finals = self.finals(studies)
        return outcome

    def best_values(self, study: Study) -> dict[str, float] | None:
        complete = [t for t in study.finished() if t.state.name == "COMPLETE"]
        if not complete:
            return None
        best = min(complete, key=lambda t: (t.value, t.number))  # validation only, as told
        return dict(best.params)

    def finals(self, studies: list[Study]) -> list[dict]:
        """Each study's best configuration, retrained over `final_seeds` seeds: the tuned rows."""
        jobs = []
        for study in studies:
            if len(study.finished()) < study.budget:
                continue  # its budget is not spent yet: no final rows from part of a study
            values = self.best_values(study)
            if values is None:
                self.report(f"{study.name}: every trial failed, no tuned row")
                continue
            trial_job = self.trial_job(study, 0, values)
            best = next(t.number for t in study.finished() if t.state.name == "COMPLETE" and t.params == values)
            for seed in range(self.final_seeds):
                jobs.append(replace(trial_job, seed=seed, tuning=self.tuning("final"),
                                    study={"name": study.name, "storage": self.storage_label(), "trial": best,
                                           "params": values}))
        if not jobs:
            return []
        planned = self.runner.plan(jobs)
        self.run_jobs(planned)
        finals = []
        for *_, path, _ in planned:
            try:
                finals.append(read_result(path))
            except UnreadableResult:
                continue
        return finals
