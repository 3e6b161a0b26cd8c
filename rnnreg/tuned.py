"""What a tuning group's result files say, retold for the board: per regularizer and search, the candidates
(the reference and the trials), the finalists with their rechecks, the chosen configuration and its final
seeds — the same decisions `rnnreg tune` made (rnnreg.selection), recomputed from the files alone — and how
stable the ranking of the tuned rows is.

Rank probabilities (Bouthillier et al. 2021: report how likely one method beats another, not one
ordering). Each bootstrap replicate, per regularizer: draw one of its searches; resample that search's N
trials with replacement (the reference always stays, as a practitioner always tries it); redo the
selection as `rnnreg tune` did — the top K by first-seed validation are the finalists, the best mean over
its selecting seeds wins — and take as the outcome the actual winner's final mean (its final seeds
resampled) moved by how much better or worse the re-selected winner scored than the actual one. Both are
scored on the same seeds: a finalist by its mean over the first and the recheck seeds; a candidate that
was never rechecked (it enters the top K only in a resample) by its first seed plus the search's mean
recheck shift (the finalists' mean over their selecting seeds minus their first seed: what the recheck
seeds, easier or harder, move a number by). When the re-selection picks the actual winner, the outcome is
the resampled mean of its final seeds, exactly. Ranking the replicate's outcomes gives P(rank 1) and
P(top 3). Seeded, so the board is reproducible.

(Comparing the re-selected candidate's first seed with the actual winner's first seed instead would credit
a method whose rechecks overturned its first-seed order — a winner that was not its first seed's best —
with the gap it never had: rnnreg 0.5's first rank probabilities did, and put moon first with 0.94.)
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from rnnreg.identity import canonical_json, chosen
from rnnreg.metrics import HIGHER_IS_BETTER, Result
from rnnreg.selection import REFERENCE, Candidate, finalists, optimism, winner

BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 0
CONFIDENT = 0.9  # the summary states an order only where its probability is at least this
EDGE_SHARE = 0.05  # a chosen value within 5 % of its range's width from an edge is flagged


def role_of(result: dict) -> str | None:
    """A result's `rnnreg tune` role — "trial", "reference", "recheck", "final" — or None (not a tuning job)."""
    return ((result.get("config") or {}).get("tuning") or {}).get("role")


def experiment_key(result: dict) -> str:
    """What a candidate, its rechecks and its finals share: the chosen config without seed and tuning."""
    return canonical_json({k: v for k, v in chosen(result["config"]).items() if k not in ("seed", "tuning")})


def valid_value(result: dict) -> float | None:
    return Result(result).value("valid")


@dataclass
class Search:
    """One search of one regularizer: its trials (by number), the reference, and what it chose."""

    sampler_seed: int | None
    trials: dict[int, dict] = field(default_factory=dict)
    space: dict = field(default_factory=dict)  # dimension → [low, high, log] or {"points": [...]}
    finalists: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None
    chosen_key: str | None = None  # its experiment key
    chosen_params: dict = field(default_factory=dict)


@dataclass
class TunedStudy:
    """One regularizer in one tuning group: its searches, reference, rechecks and finals, all from files."""

    task: str
    group: str
    label: str
    higher_is_better: bool
    budget: int  # N search draws per search (0: nothing to tune)
    finalist_count: int
    select_seeds: int
    reference: dict | None = None
    searches: list[Search] = field(default_factory=list)
    by_key: dict[str, dict[int, dict]] = field(default_factory=lambda: defaultdict(dict))  # key → seed → result
    finals: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))  # key → final results

    def candidates(self, search: Search) -> list[tuple[Candidate, str]]:
        found = []
        if self.reference is not None:
            found.append((Candidate(REFERENCE, valid_value(self.reference)), experiment_key(self.reference)))
        for number in sorted(search.trials):
            trial = search.trials[number]
            found.append((Candidate(f"trial {number}", valid_value(trial)), experiment_key(trial)))
        return found

    def failed_trials(self) -> tuple[int, int, str | None]:
        """(failed, total, first reason) over every trial and the reference."""
        runs = [r for s in self.searches for r in s.trials.values()] + ([self.reference] if self.reference else [])
        failed = [r for r in runs if r.get("status") != "ok"]
        return len(failed), len(runs), (failed[0].get("error") if failed else None)

    def valid_trials(self) -> int:
        """Search trials with a readable result, over all searches (a refused file is not one of them)."""
        return sum(len(s.trials) for s in self.searches)

    def final_values(self, key: str | None) -> list[float]:
        return [v for r in self.finals.get(key or "", []) if (v := valid_value(r)) is not None]


def tuned_studies(results: list[dict]) -> list[TunedStudy]:
    """Every new-protocol tuning group in `results` (references, rechecks, finals), one TunedStudy per task,
    group and label, with each search's decision recomputed."""
    groups: dict[tuple[str, str, str], TunedStudy] = {}
    tuned = [r for r in results if role_of(r) in ("trial", "reference", "recheck", "final")]
    protocol = {(r["task"]["name"], r["config"]["tuning"]["group"]) for r in tuned if role_of(r) == "reference"}
    for r in tuned:
        tuning = r["config"]["tuning"]
        key = (r["task"]["name"], tuning["group"], r["regularizer"]["label"])
        if key[:2] not in protocol:
            continue  # a group tuned before references and rechecks existed: the board shows it as it was
        study = groups.get(key)
        if study is None:
            metric = r["task"].get("primary_metric") or "perplexity"
            study = groups[key] = TunedStudy(*key, HIGHER_IS_BETTER[metric], int(tuning.get("trials") or 0), 0, 0)
        role = role_of(r)
        if role == "reference":
            study.reference = r
        elif role == "trial":
            seed = tuning.get("sampler_seed")
            search = next((s for s in study.searches if s.sampler_seed == seed), None)
            if search is None:
                search = Search(seed)
                study.searches.append(search)
            search.trials[int(tuning["trial"])] = r
            search.space = search.space or dict((r.get("study") or {}).get("space") or {})
        elif role == "recheck":
            study.by_key[experiment_key(r)][r["seed"]] = r
        else:
            study.finals[experiment_key(r)].append(r)
            study.finalist_count = int(tuning.get("finalists") or study.finalist_count)
            study.select_seeds = int(tuning.get("select_seeds") if tuning.get("select_seeds") is not None
                                     else study.select_seeds)
    for study in groups.values():
        study.searches.sort(key=lambda s: (s.sampler_seed is None, s.sampler_seed or 0))
        if not study.searches:  # nothing to tune: the reference is the one candidate, in one "search"
            study.searches.append(Search(None))
            if not ((study.reference or {}).get("study") or {}).get("space"):
                study.budget = 0
        decide(study)
    return sorted(groups.values(), key=lambda s: (s.task, s.group, s.label))


def decide(study: TunedStudy) -> None:
    """Each search's finalists and winner, as `rnnreg tune` chose them (known once its finals exist)."""
    if not study.finals or study.reference is None:
        return
    first_seed = study.reference["seed"]
    for search in study.searches:
        pool = study.candidates(search)
        keys = {c.key: key for c, key in pool}
        shortlist = finalists([c for c, _ in pool], study.finalist_count, study.higher_is_better)
        rechecked = []
        for c in shortlist:
            seeds = range(first_seed + 1, first_seed + 1 + study.select_seeds)
            runs = study.by_key.get(keys[c.key], {})
            rechecked.append(Candidate(c.key, c.first, tuple(valid_value(runs[s]) if s in runs else None
                                                            for s in seeds)))
        search.finalists = rechecked
        search.chosen = winner(rechecked, study.higher_is_better)
        if search.chosen is not None:
            search.chosen_key = keys[search.chosen.key]
            source = study.reference if search.chosen.key == REFERENCE else \
                search.trials[int(search.chosen.key.split()[1])]
            search.chosen_params = dict(((source or {}).get("study") or {}).get("params") or {})


def outcome(study: TunedStudy, search: Search) -> float | None:
    """The tuned outcome of one search: the mean validation number of its chosen configuration's finals."""
    values = study.final_values(search.chosen_key)
    return statistics.fmean(values) if values else None


def search_optimism(study: TunedStudy, search: Search) -> float | None:
    """What selecting promised (the chosen candidate's mean over its selecting seeds) minus what its fresh
    final seeds gave."""
    if search.chosen is None:
        return None
    return optimism(search.chosen.selecting_values() or [], study.final_values(search.chosen_key))


def edge_flags(study: TunedStudy) -> list[str]:
    """"p_cell 0.785 lies at the 0.8 edge": a chosen search value close to its range's end (the values of
    several searches that chose near one edge, in one flag: "p 0.004 / 0.027 lie at 0")."""
    from rnnreg.searchspace import parse_range

    near: dict[tuple[str, str, float], list[float]] = {}
    for search in study.searches:
        for name, value in search.chosen_params.items():
            raw = search.space.get(name)
            if raw is None or not isinstance(value, (int, float)):
                continue
            dimension = parse_range(study.label, name, raw)
            side = dimension.near_edge(float(value), EDGE_SHARE) if dimension else None
            if side and dimension:
                edge = dimension.low if side == "low" else dimension.high
                near.setdefault((name, side, edge), []).append(float(value))
    flags = []
    for (name, side, edge), values in sorted(near.items()):
        said = " / ".join(f"{v:.3g}" for v in dict.fromkeys(values))
        verb = "lies" if len(set(values)) == 1 else "lie"
        flags.append(f"{name} {said} {verb} at {edge:g}, its least: little or none of it is best"
                     if side == "low" and edge == 0 else f"{name} {said} {verb} at the {edge:g} edge — widen the range")
    return flags


def search_curve(study: TunedStudy) -> dict | None:
    """A one-dimensional grid search read as a curve (a strength search): the dimension, each grid point's
    seed-0 validation number in order — the reference at its own point (strength 1: the entry as written) —
    and the point each search chose. None for any other search."""
    from rnnreg.params import overrides_of
    from rnnreg.searchspace import STRENGTH

    spaces = [search.space for search in study.searches if search.space]
    if not spaces or any(len(space) != 1 or not isinstance(next(iter(space.values())), dict) for space in spaces):
        return None
    dimension = next(iter(spaces[0]))
    value_of: dict[str, float] = {}  # candidate name → its point
    if study.reference is not None:
        own = 1.0 if dimension == STRENGTH else overrides_of(study.reference["regularizer"].get("params") or {}).get(
            dimension)
        if isinstance(own, (int, float)):
            value_of[REFERENCE] = float(own)
    points: dict[float, float | None] = {}
    for search in study.searches:
        for number, trial in search.trials.items():
            point = ((trial.get("study") or {}).get("params") or {}).get(dimension)
            if isinstance(point, (int, float)):
                value_of[f"trial {number}"] = float(point)
                points.setdefault(float(point), valid_value(trial))
    if REFERENCE in value_of and study.reference is not None:
        points.setdefault(value_of[REFERENCE], valid_value(study.reference))
    chosen_points = [value_of.get(search.chosen.key) if search.chosen else None for search in study.searches]
    return {"dimension": dimension, "points": [[point, points[point]] for point in sorted(points)],
            "chosen": chosen_points}


@dataclass
class Stability:
    """How a tuned section's ranking holds up under the bootstrap: per regularizer P(rank 1) and P(top 3);
    the regularizers in order of their mean tuned outcome; and for every k, the probability that the
    first k of that order are the k best (so the cut after them is real)."""

    probabilities: dict[str, dict[str, float]]
    order: list[str]
    cuts: dict[int, float]
    replicates: int

    def groups(self, level: float = CONFIDENT) -> list[list[str]]:
        """The order split wherever a cut holds with probability ≥ `level`; inside a group, undecided."""
        groups, start = [], 0
        for k in range(1, len(self.order)):
            if self.cuts.get(k, 0.0) >= level:
                groups.append(self.order[start:k])
                start = k
        return groups + [self.order[start:]] if self.order else []


def mean_outcome(study: TunedStudy) -> float | None:
    values = [v for search in study.searches if (v := outcome(study, search)) is not None]
    return statistics.fmean(values) if values else None


def stability(studies: list[TunedStudy], replicates: int = BOOTSTRAP_REPLICATES,
              seed: int = BOOTSTRAP_SEED) -> Stability:
    """The bootstrap described at the top of this module, over the regularizers of one tuned section that
    have finals."""
    rng = random.Random(seed)
    ready = [s for s in studies if mean_outcome(s) is not None]
    if not ready:
        return Stability({}, [], {}, replicates)
    sign = -1.0 if ready[0].higher_is_better else 1.0
    order = sorted((s.label for s in ready),
                   key=lambda label: sign * float(next(mean_outcome(s) for s in ready if s.label == label) or 0.0))
    # Each search's numbers once (the files' configs are not re-read per replicate): the reference's and the
    # trials' first-seed values, the chosen candidate's, and its final seeds'.
    numbers = {study.label: [searched(study, search) for search in study.searches if outcome(study, search) is not None]
               for study in ready}
    wins: dict[str, int] = defaultdict(int)
    top3: dict[str, int] = defaultdict(int)
    cuts: dict[int, int] = defaultdict(int)
    for _ in range(replicates):
        scores = {label: sign * resampled_outcome(rng.choice(searches), rng, sign)
                  for label, searches in numbers.items()}
        ties = {label: rng.random() for label in scores}  # equal outcomes: no label wins by its name
        ranked = sorted(scores, key=lambda label: (scores[label], ties[label]))
        wins[ranked[0]] += 1
        for label in ranked[:3]:
            top3[label] += 1
        for k in range(1, len(order)):
            cuts[k] += set(ranked[:k]) == set(order[:k])
    return Stability({s.label: {"rank1": wins[s.label] / replicates, "top3": top3[s.label] / replicates}
                      for s in ready}, order, {k: cuts[k] / replicates for k in range(1, len(order))}, replicates)


@dataclass(frozen=True)
class Searched:
    """One search's numbers, read once for the bootstrap (not per replicate). A candidate is (its first-seed
    value, its selecting score): the mean over its selecting seeds for a finalist (infinitely bad where a
    recheck failed: it cannot win), None for one never rechecked."""

    reference: list[tuple[float, float | None]]
    trials: list[tuple[float, float | None]]
    finalists: int
    chosen_score: float
    shift: float  # the finalists' mean (selecting mean − first seed): the recheck seeds' own effect
    finals: list[float]


def searched(study: TunedStudy, search: Search) -> Searched:
    assert search.chosen is not None and search.chosen.first is not None
    worst = -math.inf if study.higher_is_better else math.inf
    scores: dict[str, float] = {}
    shifts = []
    for c in search.finalists:
        values = c.selecting_values()
        scores[c.key] = statistics.fmean(values) if values else worst
        if values and c.first is not None:
            shifts.append(statistics.fmean(values) - float(c.first))
    pool = [(c.key, (float(c.first), scores.get(c.key))) for c, _ in study.candidates(search) if c.first is not None]
    return Searched(reference=[numbers for key, numbers in pool if key == REFERENCE],
                    trials=[numbers for key, numbers in pool if key != REFERENCE],
                    finalists=max(1, len(search.finalists)), chosen_score=scores[search.chosen.key],
                    shift=statistics.fmean(shifts) if shifts else 0.0,
                    finals=study.final_values(search.chosen_key))


def resampled_outcome(numbers: Searched, rng: random.Random, sign: float) -> float:
    """One replicate of one search: its trials and finals resampled, the selection redone (top K by first
    seed, then the best selecting score), the final mean moved by the re-selected score minus the chosen's."""
    final_mean = statistics.fmean(rng.choice(numbers.finals) for _ in numbers.finals)
    drawn = numbers.reference + [rng.choice(numbers.trials) for _ in numbers.trials]
    shortlist = sorted(drawn, key=lambda c: sign * c[0])[:numbers.finalists]  # stable: the reference first on ties
    best = min((score if score is not None else first + numbers.shift for first, score in shortlist),
               key=lambda value: sign * value)
    return best - numbers.chosen_score + final_mean


def importance(study: TunedStudy) -> dict[str, float] | None:
    """Which tuned dimension carries the method: Optuna's PED-ANOVA importance over its search draws (every
    search pooled, the reference left out), highest first. None without Optuna (the `tune` extra), with
    fewer than 4 finished draws, or with fewer than two dimensions (one carries everything by definition)."""
    draws = [r for s in study.searches for r in s.trials.values() if valid_value(r) is not None]
    space = next((s.space for s in study.searches if s.space), {})
    if len(draws) < 4 or len(space) < 2:
        return None
    try:
        import optuna
    except ImportError:
        return None
    from rnnreg.searchspace import parse_range

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dimensions = {name: parse_range(study.label, name, raw) for name, raw in space.items()}
    distributions = {name: d.distribution() for name, d in dimensions.items() if d is not None}
    handle = optuna.create_study(direction="maximize" if study.higher_is_better else "minimize")
    def params_of(result: dict) -> dict:
        return {k: v for k, v in ((result.get("study") or {}).get("params") or {}).items() if k in distributions}

    handle.add_trials([optuna.trial.create_trial(params=params_of(r), distributions=distributions,
                                                 value=valid_value(r)) for r in draws])
    found = optuna.importance.get_param_importances(
        handle, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    return {name: round(float(value), 4) for name, value in found.items()}


# --- what the board shows of a tuned section -------------------------------------------------------


def searches_choosing(studies: list[TunedStudy], final: dict) -> str:
    """"search 1" (or "searches 0, 2"): which searches of its study chose a tuned row's configuration, the
    name that tells two tuned rows of one regularizer apart; "" for anything else."""
    if role_of(final) != "final":
        return ""
    key = experiment_key(final)
    for study in studies:
        if (study.task, study.group, study.label) == (final["task"]["name"], final["config"]["tuning"]["group"],
                                                       final["regularizer"]["label"]):
            seeds = [str(s.sampler_seed) for s in study.searches if s.chosen_key == key]
            return f"search{'es' if len(seeds) > 1 else ''} {', '.join(seeds)}" if seeds else ""
    return ""


def wholly_failed(studies: list[TunedStudy]) -> list[tuple[TunedStudy, str, dict]]:
    """The studies whose every candidate failed (so they have no finals), each with what the board says —
    how many failed and the first reason — and its trials against its budget."""
    found = []
    for study in studies:
        failed, total, reason = study.failed_trials()
        if study.finals or not total or failed < total:
            continue
        found.append((study, f"{failed}/{total} candidates failed; the first: {reason}",
                      {"trials": study.valid_trials(), "budget": study.budget * len(study.searches), "failed": failed}))
    return found


def selection_records(studies: list[TunedStudy],
                      section_of: Callable[[str, str], str | None]) -> dict[tuple[str, str, str], dict]:
    """Each tuned regularizer's selection record, by (task, board section, label) — `section_of(task, group)`
    names the section holding a group's final rows: per search what won (the default or a trial) and the
    tuned outcome, the selection's optimism, edge flags, the trials each study holds against its budget,
    a one-dimensional grid's curve, and the section's rank probabilities."""
    by_section: dict[tuple[str, str], list[TunedStudy]] = defaultdict(list)
    for study in studies:
        section = section_of(study.task, study.group)
        if section is not None:
            by_section[(study.task, section)].append(study)
    records = {}
    failed = {id(study) for study, _, _ in wholly_failed(studies)}
    for (task, section), members in by_section.items():
        # A method whose finals are still landing is not ranked: with fewer final seeds than the section's
        # fullest, its partial mean would be read as the row. The methods with all their finals are ranked
        # among themselves (two at least), and every record names the pending ones, so the order is read as
        # "among these", not as the section's answer.
        full = max((len(study.final_values(search.chosen_key)) for study in members for search in study.searches),
                   default=0)
        pending = [s.label for s in members if id(s) not in failed and (mean_outcome(s) is None or any(
            len(s.final_values(search.chosen_key)) < full for search in s.searches if search.chosen is not None))]
        ranked = [s for s in members if s.label not in pending]
        ranking = stability(ranked) if len(ranked) > 1 or not pending else Stability({}, [], {}, 0)
        for study in members:
            record = {
                "searches": [{"sampler_seed": s.sampler_seed, "chosen": s.chosen.key if s.chosen else None,
                              "params": s.chosen_params, "outcome": outcome(study, s),
                              "optimism": search_optimism(study, s), "trials": len(s.trials)}
                             for s in study.searches],
                "budget": study.budget, "edge": edge_flags(study), "importance": importance(study),
                **ranking.probabilities.get(study.label, {"rank1": None, "top3": None}),
                "groups": ranking.groups(), "replicates": ranking.replicates,
            }
            curve = search_curve(study)
            if curve is not None:  # a one-dimensional grid (a strength search): its curve, point by point
                record["curve"] = curve
            if pending:
                record["finals_pending"] = pending
            records[(task, section, study.label)] = record
    return records
