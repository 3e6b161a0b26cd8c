"""Equal-budget tuning with an answer that holds: for every regularizer of a suite the same trials, the same
sampler and seeds, the default as a reference, finalists rechecked on more seeds, and the chosen
configuration retrained on seeds no selection step used — repeated over independent searches.

Per regularizer and task:

    reference   the regularizer as the suite states it, on the suite's first seed s0: eligible to win (a
                practitioner always tries the default) but not a search draw, so the budget curves leave it
                out;
    trials      per search m (of `searches`), N draws of its space on s0 by the sampler (rnnreg.sampling) with
                sampler seed `seed + m`: one Optuna study per search;
    rechecks    the K best candidates of a search by their s0 validation number, each trained again on
                seeds s0+1 … s0+S;
    finals      the candidate with the best mean over its 1 + S seeds, trained on seeds s0+S+1 … s0+S+F:
                the tuned row. Two searches that choose the same configuration share its finals.

Every job is an ordinary rnnreg job — config-hashed, cached, checkpointed, locked, run by the executors
that exist — whose config records its role (rnnreg.selection has the rules; the board retells the
decisions from the result files). Trials select on the validation metric only, in the direction the task's
metric says; the test split is never read here. A job whose experiment already ran untuned in the same
folder (the same config but for its tuning record) is read, not trained (Runner.adopt_twin).

Resuming is the results folder's and the studies' business together: a trial is asked (RUNNING), run, and
told. A driver killed between ask and tell leaves RUNNING trials behind; the next driver rebuilds each
one's job from the trial's values — the same config, so the same hash — and tells it; a finished trial
whose result file is missing or refused is trained again. Each trial's values are a function of (sampler
seed, its own trial number), so a lost study database is rebuilt from the results alone by asking again,
and two drivers sharing a study never sample the same point.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rnnreg import selection
from rnnreg.errors import RnnregError
from rnnreg.identity import config_hash
from rnnreg.jobs import Job, PlannedJob, expand
from rnnreg.metrics import HIGHER_IS_BETTER
from rnnreg.results import UnreadableResult, read_result
from rnnreg.runner import Runner, check_results_dir
from rnnreg.searchspace import STRENGTH, Dimension, shared_space, space_of, strength_space
from rnnreg.storage import portable_path
from rnnreg.suite import RegularizerEntry, Suite, scale_dropout, what_a_strength_moves
from rnnreg.tuned import valid_value

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


@dataclass
class Study:
    """One search of one regularizer on one task: its jobs' template (the reference), its space, its search
    number and sampler seed, and its Optuna study (None when there is nothing to tune)."""

    template: Job
    space: dict[str, Dimension]
    handle: Any  # optuna.Study | None
    name: str
    search: int
    sampler_seed: int
    budget: int  # N search draws; 0 when the regularizer has nothing to tune

    def finished(self) -> list:
        if self.handle is None:
            return []
        return [t for t in self.handle.get_trials(deepcopy=False) if t.state.is_finished()]


@dataclass
class Decision:
    """What one search chose: its finalists with their numbers, the winner, and its final jobs."""

    study: Study
    finalists: list[selection.Candidate]
    chosen: selection.Candidate | None
    finals: list[Job] = field(default_factory=list)


@dataclass
class TuneOutcome:
    studies: list[Study]
    trials_run: int = 0  # trials this driver told (not those another driver told meanwhile)
    decisions: list[Decision] = field(default_factory=list)
    finals: list[dict] = field(default_factory=list)
    tuner_seconds: float = 0.0  # ask + tell + storage, the tuner's own cost
    open_seconds: float = 0.0  # of which opening (or creating) the studies: once per run, not per trial


class Tuner:
    def __init__(self, runner: Runner, suite: Suite, plugins, *, trials: int | None = None, sampler: str = "random",
                 seed: int = 0, storage: str | None = None, final_seeds: int = 5, finalists: int = 3,
                 select_seeds: int = 2, searches: int = 1,
                 run_jobs: Callable[[list[PlannedJob]], None] | None = None,
                 report: Callable[[str], None] = lambda message: None):
        self.optuna = import_optuna()
        from rnnreg import sampling

        if sampler not in sampling.SAMPLERS:
            raise RnnregError(f"unknown sampler {sampler!r} (samplers: {', '.join(sampling.SAMPLERS)})")
        if suite.dropout_scale != 1.0:
            raise RnnregError(f"suite {suite.name!r} sets dropout_scale {suite.dropout_scale}: tuning searches the "
                              "rates itself (tune.strength tunes one factor), so tune a suite without dropout_scale")
        for name, value, least in (("--final-seeds", final_seeds, 1), ("--finalists", finalists, 1),
                                   ("--select-seeds", select_seeds, 0), ("--searches", searches, 1)):
            if value < least:
                raise RnnregError(f"{name} {value}: must be at least {least}")
        self.sampling = sampling
        self.runner, self.suite, self.plugins = runner, suite, plugins
        self.sampler, self.seed, self.searches = sampler, seed, searches
        self.final_seeds, self.finalist_count, self.select_seeds = final_seeds, finalists, select_seeds
        self.storage = storage or default_storage(runner.results_dir)
        self.run_jobs = run_jobs or (lambda planned: runner.run([entry.job for entry in planned], planned))
        self.report = report
        self.shared = shared_space(suite.tune.get("shared") or {}, suite.source)
        self.strength = strength_space(suite.tune.get("strength"), suite.source)
        self.trials = self.budget_of(trials)
        self.group = f"{suite.name}/{sampler}-n{self.trials}"
        self.tuner_seconds = 0.0
        self.open_seconds = 0.0

    def budget_of(self, trials: int | None) -> int:
        """N: `--trials`, or for the grid sampler the grid's size (which `--trials` may only repeat)."""
        if self.sampler != "grid":
            return 16 if trials is None else trials
        sizes = {len(self.sampling.grid_points(space)) for space in self.spaces().values() if space}
        if len(sizes) > 1:
            raise RnnregError(f"the grid sampler needs one grid for every regularizer; these have {sorted(sizes)} "
                              "points")
        size = sizes.pop() if sizes else 1
        if trials is not None and trials != size:
            raise RnnregError(f"--trials {trials} with the grid sampler: the grid has {size} points, each tried once")
        return size

    # --- the studies -----------------------------------------------------------------------------------

    def templates(self) -> list[Job]:
        """One job per task and regularizer at the suite's first seed: the reference, and every trial's base."""
        return expand(replace(self.suite, seeds=[self.suite.seeds[0]]), self.plugins)

    def spaces(self) -> dict[tuple[str, str], dict[str, Dimension]]:
        found = {}
        narrowed_by = self.suite.tune.get("space") or {}
        for job in self.templates():
            entry = job.regularizer
            narrowed = narrowed_by.get(entry.label)
            if self.strength:  # one factor for the probabilities, beside whatever the suite names explicitly
                explicit = space_of(entry.spec, self.plugins.regularizers, entry.params,
                                    {k: v for k, v in (narrowed or {}).items() if v is not None},
                                    f"{self.suite.source}: tune.space")
                space = {**self.strength, **{k: explicit[k] for k in (narrowed or {}) if k in explicit}}
            else:
                space = space_of(entry.spec, self.plugins.regularizers, entry.params, narrowed,
                                 f"{self.suite.source}: tune.space")
            found[(job.task, entry.label)] = {**space, **self.shared}
        return found

    def direction(self, task: str) -> bool:
        """Whether the task's primary metric is higher-is-better (then trials maximize it)."""
        return HIGHER_IS_BETTER[self.plugins.tasks.get(task).cls().primary_metric]

    def studies(self) -> list[Study]:
        check_results_dir(self.runner.results_dir)  # the default storage lives there
        spaces = self.spaces()
        if self.strength:  # say what the one factor multiplies, before anything trains
            self.report("a strength multiplies " + "; ".join(
                what_a_strength_moves(job.regularizer, self.plugins.regularizers) for job in self.templates()))
        studies = []
        for job in self.templates():
            space = spaces[(job.task, job.regularizer.label)]
            # The template's config digest in the name: the same suite tuned with other settings (--set, -t)
            # is another study, never the continuation of this one.
            digest = config_hash(self.runner.config_of(job))[:10]
            for search in range(self.searches):
                sampler_seed = self.seed + search
                name = f"{self.group}/seed{sampler_seed}/{job.task}/{job.regularizer.label}/{digest}"
                handle = self.open_study(name, job.task) if space else None
                studies.append(Study(job, space, handle, name, search, sampler_seed, self.trials if space else 0))
        return studies

    def open_study(self, name: str, task: str):
        clock = time.perf_counter()
        try:
            handle = self.optuna.create_study(study_name=name, storage=self.storage, load_if_exists=True,
                                              direction="maximize" if self.direction(task) else "minimize")
        except Exception as exc:  # a bad URL, a server that does not answer, a folder that cannot be written
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RnnregError(f"cannot open the study storage {self.storage_label()!r}: {reason}") from None
        self.tuner_seconds += time.perf_counter() - clock
        self.open_seconds += time.perf_counter() - clock
        return handle

    def storage_label(self) -> str:
        """The storage as a result records it: an SQLite file by its repository-relative path."""
        if self.storage.startswith("sqlite:///"):
            return "sqlite:///" + (portable_path(self.storage[len("sqlite:///"):]) or "")
        return self.storage.split("@")[-1]  # a server URL without its credentials

    # --- the jobs of each role -------------------------------------------------------------------------

    def base_tuning(self) -> dict:
        # `shared`: the training knobs every regularizer tuned alike; their chosen values differ per row, so
        # the board leaves them out of the tuned section's key (one section for all the tuned rows).
        return {"group": self.group, "sampler": self.sampler, "trials": self.trials, "shared": sorted(self.shared)}

    def reference_job(self, study: Study) -> Job:
        return replace(study.template, tuning={**self.base_tuning(), "role": "reference"},
                       study={"name": study.name, "storage": self.storage_label(), "trial": selection.REFERENCE,
                              "params": {}, "space": self.space_record(study)})

    @staticmethod
    def space_record(study: Study) -> dict:
        """The ranges searched, in each result (the board flags a chosen value at a range's edge)."""
        return {name: dimension.raw() for name, dimension in study.space.items()}

    def trial_job(self, study: Study, number: int, values: dict[str, Any]) -> Job:
        """The job of one trial: the template with the trial's values (a strength scales the probabilities,
        training knobs go to `train`)."""
        template = study.template
        entry = template.regularizer
        if STRENGTH in values:
            entry = scale_dropout(entry, float(values[STRENGTH]), self.plugins.regularizers, sweeping=False)
        params = {**entry.params, **{k: v for k, v in values.items() if not k.startswith("train.") and k != STRENGTH}}
        train = {**template.train, **{k[6:]: v for k, v in values.items() if k.startswith("train.")}}
        entry = RegularizerEntry(entry.spec, params, entry.label, dict(entry.train), dict(entry.evaluation))
        tuning = {**self.base_tuning(), "role": "trial", "sampler_seed": study.sampler_seed, "trial": number}
        return replace(template, regularizer=entry, train=train, tuning=tuning,
                       study={"name": study.name, "storage": self.storage_label(), "trial": number,
                              "params": dict(values), "space": self.space_record(study)})

    def candidate_job(self, study: Study, key: str) -> Job:
        if key == selection.REFERENCE:
            return self.reference_job(study)
        number = int(key.split()[1])
        trial = next(t for t in study.finished() if t.number == number)
        return self.trial_job(study, number, trial.params)

    def recheck_job(self, candidate: Job, seed: int) -> Job:
        tuning = dict(candidate.tuning or {})
        return replace(candidate, seed=seed, tuning={**tuning, "role": "recheck", "of": tuning.get("role")})

    def final_job(self, candidate: Job, seed: int) -> Job:
        tuning = {**self.base_tuning(), "role": "final", "finalists": self.finalist_count,
                  "select_seeds": self.select_seeds}
        return replace(candidate, seed=seed, tuning=tuning)

    def recheck_seeds(self) -> list[int]:
        first = self.suite.seeds[0]
        return list(range(first + 1, first + 1 + self.select_seeds))

    def final_seeds_list(self) -> list[int]:
        first = self.suite.seeds[0] + 1 + self.select_seeds
        return list(range(first, first + self.final_seeds))

    # --- running ---------------------------------------------------------------------------------------

    def plan_and_run(self, jobs: list[Job], what: str) -> dict[str, dict | None]:
        """Run `jobs` (each once, whoever asked for it), and read back each one's result by its path."""
        unique: dict[Path, Job] = {}
        for job in jobs:
            unique.setdefault(self.runner.path_of(job)[2], job)
        if not unique:
            return {}
        planned = self.runner.plan(list(unique.values()))
        to_train = sum(1 for entry in planned if entry.runs)
        self.report(f"{what}: {len(planned)} to run or read ({to_train} to train)")
        if to_train:
            self.run_jobs(planned)
        found: dict[str, dict | None] = {}
        for path in unique:
            try:
                found[str(path)] = read_result(path)
            except UnreadableResult:  # held by another process, or interrupted
                found[str(path)] = None
        return found

    def result_of(self, job: Job) -> dict | None:
        try:
            return read_result(self.runner.path_of(job)[2])
        except UnreadableResult:
            return None

    def ask(self, study: Study) -> tuple[int, dict[str, Any]]:
        clock = time.perf_counter()
        study.handle.sampler = self.sampling.make_sampler(self.sampler, study.sampler_seed, study.space)
        trial = study.handle.ask({name: d.distribution() for name, d in study.space.items()})
        self.tuner_seconds += time.perf_counter() - clock
        return trial.number, dict(trial.params)

    def tell(self, study: Study, number: int, result: dict) -> None:
        clock = time.perf_counter()
        value = valid_value(result)
        if value is not None:
            study.handle.tell(number, value, skip_if_finished=True)
        else:
            study.handle.tell(number, state=self.optuna.trial.TrialState.FAIL, skip_if_finished=True)
        self.tuner_seconds += time.perf_counter() - clock

    def run(self) -> TuneOutcome:
        studies = self.studies()
        outcome = TuneOutcome(studies)
        outcome.trials_run = self.run_trials(studies)
        if all(len(study.finished()) >= study.budget for study in studies):
            outcome.decisions = self.decide(studies)
            outcome.finals = self.run_finals(outcome.decisions)
        else:
            for study in studies:
                missing = study.budget - len(study.finished())
                if missing > 0:
                    self.report(f"{study.name}: {missing} of {study.budget} trials still run elsewhere")
        outcome.tuner_seconds, outcome.open_seconds = self.tuner_seconds, self.open_seconds
        return outcome

    def run_trials(self, studies: list[Study]) -> int:
        """The references and every study's trials; returns how many trials this driver told."""
        # The references first: a search point that is the reference's experiment (a strength grid's 1.0) is
        # then read from it, not trained a second time.
        self.plan_and_run([self.reference_job(s) for s in studies], "references (the suite's own rows)")
        pending: list[Job] = []
        # Finished trials whose result file is gone or refused: trained again, as `run` reruns a refused result.
        for study in studies:
            for trial in study.finished():
                job = self.trial_job(study, trial.number, trial.params)
                if self.result_of(job) is None:
                    pending.append(job)
        told = 0
        adaptive = self.sampler not in self.sampling.INDEPENDENT
        while True:
            round_jobs: list[tuple[Study, int, Job]] = []
            for study in studies:
                if study.handle is None:
                    continue
                running = [t for t in study.handle.get_trials(deepcopy=False)
                           if t.state == self.optuna.trial.TrialState.RUNNING]
                for trial in running:  # left by a driver that was killed: rebuild the very same job
                    round_jobs.append((study, trial.number, self.trial_job(study, trial.number, trial.params)))
                left = study.budget - len(study.finished()) - len(running)
                for _ in range(min(1, max(0, left)) if adaptive else max(0, left)):
                    number, values = self.ask(study)
                    round_jobs.append((study, number, self.trial_job(study, number, values)))
            if not round_jobs and not pending:
                break
            results = self.plan_and_run(pending + [job for *_, job in round_jobs], "references and trials")
            pending = []
            told_now = 0
            states = {study.name: {t.number: t.state for t in study.handle.get_trials(deepcopy=False)}
                      for study, *_ in round_jobs}
            for study, number, job in round_jobs:
                result = results.get(str(self.runner.path_of(job)[2]))
                if result is None:
                    continue  # held by another process, or interrupted: stays RUNNING
                if states[study.name].get(number) == self.optuna.trial.TrialState.RUNNING:  # not told by another driver
                    self.tell(study, number, result)
                    told_now += 1
            told += told_now
            if round_jobs and not told_now:
                break  # every trial of this round is held elsewhere: nothing more to do here now
        return told

    def candidates(self, study: Study) -> list[tuple[selection.Candidate, Job]]:
        """The reference and the finished trials of one search, with their first-seed numbers from the files."""
        jobs = [(selection.REFERENCE, self.reference_job(study))]
        jobs += [(f"trial {t.number}", self.trial_job(study, t.number, t.params))
                 for t in sorted(study.finished(), key=lambda t: t.number)]
        found = []
        for key, job in jobs:
            result = self.result_of(job)
            found.append((selection.Candidate(key, valid_value(result) if result else None), job))
        return found

    def decide(self, studies: list[Study]) -> list[Decision]:
        """Per search: the finalists, their rechecks (run here), the winner and its final jobs."""
        seeds = self.recheck_seeds()
        shortlists = []
        rechecks: list[Job] = []
        for study in studies:
            higher = self.direction(study.template.task)
            pool = self.candidates(study)
            chosen = selection.finalists([c for c, _ in pool], self.finalist_count, higher)
            jobs = {c.key: job for c, job in pool}
            shortlists.append((study, higher, chosen, jobs))
            rechecks += [self.recheck_job(jobs[c.key], seed) for c in chosen for seed in seeds]
        if rechecks:
            self.plan_and_run(rechecks, "rechecks of the finalists")
        decisions = []
        for study, higher, chosen, jobs in shortlists:
            found = {c.key: [self.result_of(self.recheck_job(jobs[c.key], seed)) for seed in seeds] for c in chosen}
            if any(r is None for runs in found.values() for r in runs):
                # No file yet: another driver still trains it (or was killed). A failed recheck has a file
                # and cannot win; a missing one must not be read as failed, or the winner would change.
                self.report(f"{study.name}: rechecks still run elsewhere: the choice waits for a rerun")
                continue
            rechecked = [replace(c, rechecks=tuple(valid_value(r) if r else None for r in found[c.key]))
                         for c in chosen]
            best = selection.winner(rechecked, higher)
            decision = Decision(study, rechecked, best)
            if best is None:
                self.report(f"{study.name}: no candidate finished (every trial failed): no tuned row")
            else:
                decision.finals = [self.final_job(jobs[best.key], seed) for seed in self.final_seeds_list()]
            decisions.append(decision)
        return decisions

    def run_finals(self, decisions: list[Decision]) -> list[dict]:
        jobs = [job for decision in decisions for job in decision.finals]
        results = self.plan_and_run(jobs, "final seeds of the chosen configurations")
        return [result for result in results.values() if result is not None]
