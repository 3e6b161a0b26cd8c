"""Claims are parsed with one-line errors and evaluated on hand-made result sets: holds, contradicted,
inconclusive, with the test and n."""

import pytest

from rnnreg.claims import check, evaluate_all, parse_claim
from rnnreg.claimtable import claim_cells, fmt_numbers
from rnnreg.errors import RnnregError


def result(label, seed, metrics, curve=None, task="synthetic-lm"):
    return {"task": {"name": task, "primary_metric": "perplexity"}, "regularizer": {"label": label}, "seed": seed,
            "status": "ok", "metrics": {k: {"value": v, "higher_is_better": False} for k, v in metrics.items()},
            "curves": [{"epoch": e + 1, "valid_perplexity": v} for e, v in enumerate(curve or [])]}


def runs(label, valids, **extra):
    return [result(label, s, {"valid_perplexity": v, **{k: vs[s] for k, vs in extra.items()}}) for s, v in enumerate(valids)]


@pytest.mark.parametrize("text,kind", [
    ("variational < zaremba on synthetic-lm valid_perplexity", "compare"),
    ("|valid_perplexity_mc - valid_perplexity| / valid_perplexity < 0.02 for variational on synthetic-lm", "gap"),
    ("none overfits on synthetic-sentiment", "overfit"),
    ("variational  does not overfit on synthetic-sentiment", "overfit"),
])
def test_the_three_forms_parse(text, kind):
    assert parse_claim(text, "s.yaml: claims[0]").kind == kind


@pytest.mark.parametrize("text,message", [
    ("variational beats zaremba", "cannot read claim 'variational beats zaremba'"),
    ("|a - b| / c < 0.02 for v on t", "divides by c, not by b"),
])
def test_bad_claims_are_one_line_errors_naming_the_file(text, message):
    with pytest.raises(RnnregError) as err:
        parse_claim(text, "paper-claims.yaml: claims[3]")
    assert str(err.value).startswith("paper-claims.yaml: claims[3]: ") and message in str(err.value)


def test_a_suite_claim_naming_an_unknown_label_fails_on_load(tmp_path, plugins):
    from rnnreg.suite import load_suite

    path = tmp_path / "c.yaml"
    path.write_text("tasks: [synthetic-lm]\nregularizers: [none, zaremba]\n"
                    "claims: ['variational < zaremba on synthetic-lm valid_perplexity']\n")
    with pytest.raises(RnnregError, match=r"c.yaml: claims\[0\]: .* names 'variational', which is not a label"):
        load_suite(path, plugins)


def compare(results):
    return check(parse_claim("a < b on synthetic-lm valid_perplexity", "t"), results)


def test_comparison_holds_is_contradicted_or_is_inconclusive():
    a = runs("a", [40.0, 45.0, 50.0, 42.0, 47.0])
    better_b = runs("b", [38.0, 43.1, 47.9, 40.0, 45.1])
    worse_b = runs("b", [42.1, 46.9, 52.0, 44.1, 48.9])
    noisy_b = runs("b", [41.0, 44.0, 51.5, 41.0, 47.5])
    held = compare(a + worse_b)
    assert held["status"] == "holds" and held["n"] == 5 and held["p_value"] < 0.05 and held["test"].startswith("paired t-test")
    assert compare(a + better_b)["status"] == "contradicted"
    assert compare(a + noisy_b)["status"] == "inconclusive"
    assert compare(a[:1] + worse_b[:1])["status"] == "inconclusive"  # one seed: untested


def test_the_numbers_cell_says_what_there_is_and_nothing_it_lacks():
    """A claim over rows not run yet says so; one seed shows its means and no empty interval."""
    overfit = parse_claim("a overfits on synthetic-lm", "t")
    one_seed = [result("a", 0, {"valid_perplexity": 42.0}, curve=[50, 40, 40, 40, 48, 48, 48])]
    assert fmt_numbers({"suite": "s", **check(overfit, [])}) == "no results yet"
    assert fmt_numbers({"suite": "s", **check(overfit, one_seed)}).startswith("mean_margin 0.")
    cell = fmt_numbers({"suite": "s", **compare(runs("a", [40.0]) + runs("b", [41.0]))})
    assert cell == "a 40, b 41, effect -1 (1 seed: no interval)"
    row = {"suite": "s", **compare(runs("a", [40.0]) + runs("b", [41.0]))}
    assert claim_cells(row)[-1] == "2+ seeds to estimate"


def test_relative_gap_against_its_bound_says_which_way_it_went():
    claim = parse_claim("|valid_perplexity_mc - valid_perplexity| / valid_perplexity < 0.02 for v on synthetic-lm", "t")
    close = runs("v", [40.0, 41.0, 42.0], valid_perplexity_mc=[40.2, 41.3, 42.1])
    far = runs("v", [40.0, 41.0, 42.0], valid_perplexity_mc=[42.0, 43.1, 44.0])
    assert check(claim, close)["status"] == "holds"
    assert check(claim, far)["status"] == "contradicted"
    assert check(claim, far)["numbers"]["valid_perplexity_mc above valid_perplexity"] == "3 of 3 seeds"


def test_signed_mc_claims():
    """MC worse than deterministic in every seed: "MC better" is contradicted, and a signed bound on how
    much worse it may be holds or fails on the direction, where the absolute form hid it."""
    worse = runs("v", [40.0, 41.0, 42.0, 43.0], valid_perplexity_mc=[40.9, 42.1, 42.8, 44.0])
    better = parse_claim("valid_perplexity_mc < valid_perplexity for v on synthetic-lm", "t")
    assert check(better, worse)["status"] == "contradicted"
    not_much_worse = parse_claim("(valid_perplexity_mc - valid_perplexity) / valid_perplexity < 0.05 for v on synthetic-lm", "t")
    assert check(not_much_worse, worse)["status"] == "holds"
    mc_better = runs("v", [40.0, 41.0, 42.0, 43.0], valid_perplexity_mc=[39.0, 40.1, 41.2, 42.0])
    assert check(better, mc_better)["status"] == "holds"
    within = parse_claim("(valid_perplexity_mc - valid_perplexity) / valid_perplexity < 0.01 for v on synthetic-lm", "t")
    assert check(within, worse)["status"] == "contradicted"  # about 2 % worse: not within 1 %


def curve(rise: float, seed: int, epochs: int = 30) -> list[float]:
    """Falls to 50 by epoch 10, then rises by `rise` (relative) to the end, with a little seed noise."""
    noise = [0.2, -0.1, 0.15, -0.2, 0.05]
    return [80 - 3 * e if e < 10 else 50 * (1 + rise * (e - 10) / (epochs - 10)) + noise[(e + seed) % 5]
            for e in range(epochs)]


def test_overfitting_on_the_learning_curve():
    rising = [result("none", s, {"valid_perplexity": 60.0}, curve=curve(0.2, s)) for s in range(3)]
    flat = [result("v", s, {"valid_perplexity": 50.0}, curve=curve(0.0, s)) for s in range(3)]
    assert check(parse_claim("none overfits on synthetic-lm", "t"), rising)["status"] == "holds"
    assert check(parse_claim("v does not overfit on synthetic-lm", "t"), flat)["status"] == "holds"
    assert check(parse_claim("v overfits on synthetic-lm", "t"), flat)["status"] == "contradicted"
    more = check(parse_claim("none overfits more than v on synthetic-lm", "t"), rising + flat)
    assert more["status"] == "holds" and more["test"].startswith("paired t-test") and more["n"] == 3


def test_holm_corrects_a_suites_claims_together():
    """p 0.03 alone holds; beside two other claims Holm multiplies it by up to 3 and it no longer does."""
    from rnnreg.suite import Suite

    a = runs("a", [40.0, 45.0, 50.0, 42.0, 47.0])
    b = runs("b", [40.9, 45.2, 51.8, 42.6, 48.6])  # a < b at p ≈ 0.03
    claims = [parse_claim(text, "t") for text in ("a < b on synthetic-lm valid_perplexity",
                                                   "a < a2 on synthetic-lm valid_perplexity",
                                                   "a2 < b on synthetic-lm valid_perplexity")]
    a2 = runs("a2", [40.1, 45.3, 50.2, 42.0, 47.4])
    results = [{**r, "config_hash": "h"} for r in a + b + a2]
    alone = check(claims[0], results)
    assert 0.01 < alone["p_value"] < 0.05 and alone["status"] == "holds"
    suite = Suite("s", "s.yaml", [0], {}, {}, [], claims)
    [first, *_] = evaluate_all(results, [("s", suite, {"h"})])
    assert first["p_value"] == alone["p_value"] and first["p_adjusted"] > 0.05
    assert first["status"] == "inconclusive" and first["seeds_for_power"] is not None


def test_a_tuned_suites_claims_are_about_its_tuned_rows(tmp_path, plugins):
    """Claims of a suite `rnnreg tune` ran are checked on the retrained best configurations ("final"), never on
    trials, nor on finals of another version of the task settings."""
    import copy

    from rnnreg.claimscope import suites_with_claims
    from rnnreg.identity import config_hash
    from rnnreg.jobs import config_of, expand
    from rnnreg.suite import load_suite

    path = tmp_path / "tuned.yaml"
    path.write_text("name: tuned\ntasks: [synthetic-sentiment]\nregularizers: [none, variational]\n"
                    "claims: ['variational < none on synthetic-sentiment test_error']\n")
    [_, job] = expand(load_suite(str(path), plugins), plugins)

    def tuned(role, seed=0, p=0.41, group="tuned/random-seed0-n16", **train):
        config = copy.deepcopy(config_of(job, plugins))
        config["regularizer"]["params"]["variational"]["p_recurrent"] = p
        config["train"].update(train)
        config["seed"] = seed
        config["tuning"] = {"group": group, "role": role, "shared": []}
        return {"config": config, "config_hash": config_hash(config), "suite": {"name": "tuned", "source": str(path)},
                "task": {"name": "synthetic-sentiment"}, "regularizer": {"label": "variational"}, "seed": seed}

    finals = [tuned("final", seed) for seed in range(3)]
    trial, other = tuned("trial", p=0.2), tuned("final", epochs=99)
    [(name, _, hashes)] = suites_with_claims([*finals, trial, other], plugins)
    assert name == "tuned" and hashes == {r["config_hash"] for r in finals}
    # finals of a 4-trial study of the same suite never mix with those of the 16-trial one
    small = [tuned("final", seed, p=0.3, group="tuned/random-n4") for seed in range(3)]
    [(_, _, hashes)] = suites_with_claims([*finals, *small], plugins)
    assert hashes == {r["config_hash"] for r in finals}


def test_a_suites_claims_count_every_seed_of_its_jobs(tmp_path, plugins):
    """A suite that lists seed 0 and was run again with `--seeds 3` is checked on all three seeds of its own
    configurations — not on a result with other settings, nor on one of another suite's regularizer."""
    import copy

    from rnnreg.claimscope import suites_with_claims
    from rnnreg.identity import config_hash
    from rnnreg.jobs import config_of, expand
    from rnnreg.suite import load_suite

    path = tmp_path / "small.yaml"
    path.write_text("name: small\nseeds: [0]\ntasks: [synthetic-sentiment]\nregularizers: [none, zaremba]\n"
                    "claims: ['zaremba < none on synthetic-sentiment valid_error']\n")
    jobs = expand(load_suite(str(path), plugins), plugins)

    def ran(job, seed, **train):
        config = copy.deepcopy(config_of(job, plugins))
        config["seed"] = seed
        config["train"].update(train)
        return {"config": config, "config_hash": config_hash(config), "suite": {"name": "small", "source": str(path)},
                "task": {"name": "synthetic-sentiment"}, "regularizer": {"label": job.regularizer.label}, "seed": seed}

    seeds = [ran(job, seed) for job in jobs for seed in range(3)]
    other_settings = ran(jobs[0], 1, epochs=99)
    other = tmp_path / "other.yaml"
    other.write_text("name: other\ntasks: [synthetic-sentiment]\nregularizers: [naive]\n")
    [another_regularizer] = expand(load_suite(str(other), plugins), plugins)
    [(name, _, hashes)] = suites_with_claims([*seeds, other_settings, ran(another_regularizer, 1)], plugins)
    assert name == "small" and hashes == {r["config_hash"] for r in seeds}


def test_the_paper_claims_suite_states_its_claims_over_five_seeds(plugins):
    from rnnreg.suite import load_suite

    suite = load_suite("paper-claims", plugins)
    assert len(suite.seeds) >= 5 and len(suite.claims) >= 8
    assert {c.kind for c in suite.claims} >= {"compare", "gap", "overfit"}


def test_claims_command_reports_every_claim_of_the_suites_present(tmp_path):
    import json

    from click.testing import CliRunner

    from rnnreg.cli import cli

    suite = tmp_path / "mine.yaml"
    suite.write_text("seeds: 2\nevaluation: {mc_samples: 2}\n"
                     "tasks: {synthetic-sentiment: {model: {hidden_size: 8, embed_size: 8}, train: {epochs: 2}}}\n"
                     "regularizers: [none, zaremba]\n"
                     "claims: ['none < zaremba on synthetic-sentiment valid_error', 'zaremba overfits on synthetic-sentiment',\n"
                     "         '|valid_error_mc - valid_error| / valid_error < 0.5 for zaremba on synthetic-sentiment']\n")
    results = tmp_path / "results"
    assert CliRunner().invoke(cli, ["run", "--suite", str(suite), "--results-dir", str(results)]).exit_code == 0
    out = CliRunner().invoke(cli, ["claims", str(results), "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert [r["claim"] for r in rows] == ["none < zaremba on synthetic-sentiment valid_error",
                                          "zaremba overfits on synthetic-sentiment",
                                          "|valid_error_mc - valid_error| / valid_error < 0.5 for zaremba on synthetic-sentiment"]
    assert all(r["status"] in ("holds", "contradicted", "inconclusive") and r["n"] == 2 and r["test"] for r in rows)
    board = tmp_path / "BOARD.md"
    assert CliRunner().invoke(cli, ["leaderboard", str(results), "--write", str(board)]).exit_code == 0
    assert "## Claims" in board.read_text() and "zaremba overfits on synthetic-sentiment" in board.read_text()


def test_a_tuned_method_whose_searches_chose_different_winners_counts_as_their_mean_at_each_seed():
    # search 0's winner and search 1's winner, each retrained on the final seeds 0-4
    a = runs("a", [40.0, 45.0, 50.0, 42.0, 47.0]) + runs("a", [44.0, 49.0, 54.0, 46.0, 51.0])
    b = runs("b", [43.1, 47.9, 53.0, 45.1, 49.9])  # worse than a's first winner, better than the second
    checked = compare(a + b)
    assert checked["n"] == 5 and checked["status"] == "holds"  # a's mean (42, 47, 52, 44, 49) is below b
    assert compare(list(reversed(a)) + b) == checked  # the order of the files does not choose a winner
