"""Claims are parsed with one-line errors and evaluated on hand-made result sets: holds, contradicted,
inconclusive, with the test and n."""

import pytest

from rnnreg.claims import evaluate, fmt_numbers, parse_claim
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
    return evaluate(parse_claim("a < b on synthetic-lm valid_perplexity", "t"), results)


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
    one_seed = [result("a", 0, {"valid_perplexity": 42.0}, curve=[50, 40, 42])]
    assert fmt_numbers({"suite": "s", **evaluate(overfit, [])}) == "no results yet"
    assert fmt_numbers({"suite": "s", **evaluate(overfit, one_seed)}) == "mean_excess 0.05"
    assert fmt_numbers({"suite": "s", **compare(runs("a", [40.0]) + runs("b", [41.0]))}) == "a 40, b 41"


def test_relative_gap_against_its_bound():
    claim = parse_claim("|valid_perplexity_mc - valid_perplexity| / valid_perplexity < 0.02 for v on synthetic-lm", "t")
    close = runs("v", [40.0, 41.0, 42.0], valid_perplexity_mc=[40.2, 41.3, 42.1])
    far = runs("v", [40.0, 41.0, 42.0], valid_perplexity_mc=[42.0, 43.1, 44.0])
    assert evaluate(claim, close)["status"] == "holds"
    assert evaluate(claim, far)["status"] == "contradicted"


def test_overfitting_on_the_learning_curve():
    rising = [result("none", s, {"valid_perplexity": 60.0 + s}, curve=[70, 50 + s, 55, 60 + s]) for s in range(3)]
    flat = [result("v", s, {"valid_perplexity": 45.0}, curve=[70, 50, 46, 45 + 0.01 * s]) for s in range(3)]
    overfits = parse_claim("none overfits on synthetic-lm", "t")
    assert evaluate(overfits, rising)["status"] == "holds"
    assert evaluate(parse_claim("v does not overfit on synthetic-lm", "t"), flat)["status"] == "holds"
    assert evaluate(parse_claim("v overfits on synthetic-lm", "t"), flat)["status"] == "contradicted"


def test_the_paper_claims_suite_states_its_claims_over_five_seeds(plugins):
    from rnnreg.suite import load_suite

    suite = load_suite("paper-claims", plugins)
    assert len(suite.seeds) >= 5 and len(suite.claims) >= 8
    assert {c.kind for c in suite.claims} == {"compare", "gap", "overfit"}


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
