"""A tuning group retold from its files: decisions recomputed, the rank probabilities' bootstrap on made-up
studies whose answer is known, the budget curve from search draws only, and ranges whose edge holds the
chosen value flagged."""

import random

import pytest

from rnnreg.tuned import edge_flags, outcome, stability, tuned_studies

GROUP = "made-up/random-n8"


def result(label, role, seed, value, params=None, **tuning):
    config = {"task": {"name": "synthetic-lm"}, "seed": seed, "model": {}, "train": {}, "evaluation": {},
              "versions": {"rnnreg": "0.4.0"}, "device": "cpu",
              "regularizer": {"label": label, "spec": label, "params": {label: params or {}}},
              "tuning": {"role": role, "group": GROUP, "sampler": "random", "trials": 8, "shared": [], **tuning}}
    return {"config": config, "task": {"name": "synthetic-lm", "primary_metric": "perplexity"},
            "regularizer": config["regularizer"], "seed": seed, "status": "ok",
            "metrics": {"valid_perplexity": {"value": value, "higher_is_better": False}},
            "speed": {"train_tokens_per_s": {"median": 1.0}, "eval_tokens_per_s": {"median": 1.0}},
            "study": {"params": params or {}, "space": {"p": [0.0, 0.8]}}}


def made_up(label, level, rng, searches=2, trials=8, finals=5, noise=1.0, chosen_p=None):
    """A regularizer whose every configuration lies near `level`: reference, trials, and the finals of the
    best trial of each search (one finalist, no recheck)."""
    found = [result(label, "reference", 0, level + rng.gauss(0, noise))]
    for search in range(searches):
        values = [level + rng.gauss(0, noise) for _ in range(trials)]
        ps = [chosen_p if chosen_p is not None and k == 0 else rng.uniform(0.05, 0.75) for k in range(trials)]
        if chosen_p is not None:
            values[0] = min(values) - 0.5
        found += [result(label, "trial", 0, v, {"p": p}, sampler_seed=search, trial=k)
                  for k, (v, p) in enumerate(zip(values, ps, strict=True))]
        best = min(range(trials), key=values.__getitem__)
        if values[best] < found[0]["metrics"]["valid_perplexity"]["value"]:
            found += [result(label, "final", 1 + f, level + rng.gauss(0, noise), {"p": ps[best]}, finalists=1,
                             select_seeds=0) for f in range(finals)]
        else:
            found += [result(label, "final", 1 + f, level + rng.gauss(0, noise), finalists=1, select_seeds=0)
                      for f in range(finals)]
    return found


def test_a_clearly_better_method_ranks_first_with_probability_at_least_0_9():
    rng = random.Random(1)
    studies = tuned_studies(made_up("good", 40.0, rng) + made_up("bad", 44.0, rng) + made_up("worse", 47.0, rng))
    ranking = stability(studies)
    assert ranking.order == ["good", "bad", "worse"]
    assert ranking.probabilities["good"]["rank1"] >= 0.9
    assert ranking.groups() == [["good"], ["bad"], ["worse"]]


def relabelled(results, label):
    import copy

    found = copy.deepcopy(results)
    for r in found:
        r["config"]["regularizer"]["label"] = label
        r["regularizer"] = r["config"]["regularizer"]
    return found


def test_two_equal_methods_share_rank_one_about_evenly_and_stay_undecided():
    rng = random.Random(2)
    a = made_up("a", 42.0, rng)
    studies = tuned_studies(a + relabelled(a, "b") + made_up("far", 50.0, rng))  # b: a's very numbers
    ranking = stability(studies)
    assert 0.3 <= ranking.probabilities["a"]["rank1"] <= 0.7 and 0.3 <= ranking.probabilities["b"]["rank1"] <= 0.7
    assert ranking.probabilities["far"]["rank1"] < 0.01
    assert ranking.groups() == [sorted(["a", "b"], key=ranking.order.index), ["far"]]  # inside: undecided


def rechecked_study(label, chosen_is_first_seed_best):
    """Three finalists rechecked on two more seeds, the same finals either way. The winner is the reference,
    second on its first seed and first on its rechecks; or trial 0, first on both (with the reference's
    first seed and trial 0's rechecks swapped)."""
    rechecks_win, rechecks_lose = (42.21, 42.13), (42.35, 42.26)
    if chosen_is_first_seed_best:
        reference, first_trial = (42.62, rechecks_lose), (42.41, rechecks_win)
    else:
        reference, first_trial = (42.62, rechecks_win), (42.41, rechecks_lose)
    found = [result(label, "reference", 0, reference[0])]
    for seed, value in zip((1, 2), reference[1], strict=True):
        found.append(result(label, "recheck", seed, value))
    trials = [(first_trial, {"p": 0.3}), ((42.58, (42.66, 42.30)), {"p": 0.4})] + \
        [((43.0 + k / 4, None), {"p": 0.05 + k / 20}) for k in range(6)]
    for k, ((first, rechecks), params) in enumerate(trials):
        found.append(result(label, "trial", 0, first, params, sampler_seed=0, trial=k))
        for seed, value in zip((1, 2), rechecks or (), strict=False):
            found.append(result(label, "recheck", seed, value, params))
    chosen_params = {"p": 0.3} if chosen_is_first_seed_best else None
    found += [result(label, "final", 3 + f, v, chosen_params, finalists=3, select_seeds=2)
              for f, v in enumerate((42.1, 42.5, 42.3, 42.4, 42.4))]
    return found


def test_a_winner_its_rechecks_chose_gets_no_credit_for_a_first_seed_gap_it_never_had():
    """Two methods with the same numbers: one's winner is its first seed's best, the other's won on its
    rechecks. Re-selecting in a resample must score both alike (on their selecting seeds), so neither is
    first with any confidence."""
    studies = tuned_studies(rechecked_study("by-rechecks", False) + rechecked_study("by-first-seed", True))
    assert {s.label: s.searches[0].chosen.key for s in studies} == {"by-rechecks": "reference",
                                                                    "by-first-seed": "trial 0"}
    ranking = stability(studies)
    for label in ("by-rechecks", "by-first-seed"):
        assert 0.3 <= ranking.probabilities[label]["rank1"] <= 0.7
    assert len(ranking.groups()) == 1


def test_the_decisions_are_recomputed_from_the_files():
    rng = random.Random(3)
    [study] = tuned_studies(made_up("m", 40.0, rng, searches=2))
    for search in study.searches:
        best = min(search.trials.values(), key=lambda r: r["metrics"]["valid_perplexity"]["value"])
        reference = study.reference["metrics"]["valid_perplexity"]["value"]
        expected = "reference" if reference <= best["metrics"]["valid_perplexity"]["value"] else \
            f"trial {best['config']['tuning']['trial']}"
        assert search.chosen.key == expected and outcome(study, search) is not None


def test_a_chosen_value_at_its_ranges_edge_is_flagged():
    rng = random.Random(4)
    [study] = tuned_studies(made_up("z", 40.0, rng, chosen_p=0.785))
    assert edge_flags(study) == ["p 0.785 lies at the 0.8 edge — widen the range"]
    [inside] = tuned_studies(made_up("z", 40.0, random.Random(4), chosen_p=0.4))
    assert edge_flags(inside) == []
    [twice] = tuned_studies(made_up("z", 40.0, random.Random(4), chosen_p=0.785))
    for search in twice.searches:  # both searches chose near the edge: one flag with both values
        search.chosen_params = {"p": 0.785 if search.sampler_seed == 0 else 0.79}
    assert edge_flags(twice) == ["p 0.785 / 0.79 lie at the 0.8 edge — widen the range"]


def test_the_budget_curve_uses_search_draws_only_not_the_reference():
    from rnnreg.leaderboard import build_rows

    rng = random.Random(5)
    files = made_up("m", 40.0, rng, searches=1)
    files[0]["metrics"]["valid_perplexity"]["value"] = 1.0  # a reference far better than any draw
    for r in files:
        r["_path"] = "x"
    [row] = build_rows(files)
    draws = sorted(r["metrics"]["valid_perplexity"]["value"] for r in files if r["config"]["tuning"]["role"] == "trial")
    assert row["budget"]["trials"] == 8
    assert row["budget"]["curve"][-1]["mean"] == pytest.approx(draws[0])  # best of all 8 draws, not the reference
    two = made_up("m", 40.0, random.Random(5), searches=2)
    for r in two:
        r["_path"] = "x"
    row = build_rows(two)[0]  # a row per search's winner, with their study's budget
    assert row["budget"]["trials"] == 16 and row["budget"]["searches"] == 2
    assert [p["n"] for p in row["budget"]["curve"]] == list(range(1, 9))  # one search's budget, from 16 draws


def test_the_dimension_that_decides_the_outcome_carries_the_importance():
    pytest.importorskip("optuna")
    from rnnreg.tuned import importance

    rng = random.Random(6)
    files = [result("m", "reference", 0, 50.0)]
    for k in range(24):
        p, q = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
        files.append(result("m", "trial", 0, 40.0 + 20 * abs(p - 0.5) + rng.gauss(0, 0.1), {"p": p, "q": q},
                            sampler_seed=0, trial=k))
        files[-1]["study"]["space"] = {"p": [0.0, 0.8], "q": [0.0, 0.8]}
    [study] = tuned_studies(files)
    found = importance(study)
    assert list(found)[0] == "p" and found["p"] > found["q"]


def test_a_method_whose_finals_are_still_landing_is_not_ranked_and_is_named_pending():
    """Finals land one method after another: a method's partial mean is never ranked as its row; the
    finished methods are ranked among themselves, and every record names the pending ones."""
    from rnnreg.tuned import selection_records

    rng = random.Random(3)
    good, bad = made_up("good", 40.0, rng), made_up("bad", 44.0, rng)
    waiting = [r for r in bad if r["config"]["tuning"]["role"] != "final"]
    records = selection_records(tuned_studies(good + waiting), lambda task, group: "tuned")
    assert {key[2] for key in records} == {"good", "bad"}
    for record in records.values():
        assert record["rank1"] is None and record["finals_pending"] == ["bad"] and record["groups"] == []
    finals = [r for r in bad if r["config"]["tuning"]["role"] == "final"]
    partly = [r for r in bad if r is not finals[-1]]  # one final seed still to land: its mean is no row yet
    records = selection_records(tuned_studies(good + partly), lambda task, group: "tuned")
    assert all(record["rank1"] is None and record["finals_pending"] == ["bad"] for record in records.values())
    records = selection_records(tuned_studies(good + bad), lambda task, group: "tuned")
    assert records[("synthetic-lm", "tuned", "good")]["rank1"] >= 0.9
    assert all("finals_pending" not in record for record in records.values())
    # a third method still searching: the two finished ones are ranked among themselves
    late = [r for r in made_up("late", 30.0, rng) if r["config"]["tuning"]["role"] != "final"]
    records = selection_records(tuned_studies(good + bad + late), lambda task, group: "tuned")
    assert records[("synthetic-lm", "tuned", "late")]["rank1"] is None
    assert records[("synthetic-lm", "tuned", "good")]["rank1"] >= 0.9
    assert all(record["finals_pending"] == ["late"] for record in records.values())
