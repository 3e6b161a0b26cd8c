"""Leaderboards come from result files alone: ranking, mean ± std, failures kept, formats, --check."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from rnnreg.cli import cli
from rnnreg.leaderboard import build_rows, render_csv, render_markdown
from rnnreg.results import result_path, write_atomic


def result(label, seed, valid, test=None, status="ok", spec=None, finished="2026-01-01T00:00:00", config=None):
    metrics = {} if status != "ok" else {
        "valid_perplexity": {"value": valid, "higher_is_better": False},
        "test_perplexity": {"value": test if test is not None else valid, "higher_is_better": False},
        "train_perplexity": {"value": valid / 2, "higher_is_better": False},
    }
    return {
        "schema_version": 1, "task": {"name": "synthetic-lm", "kind": "language-model", "primary_metric": "perplexity"},
        "regularizer": {"label": label, "spec": spec or label}, "seed": seed, "status": status,
        "error": None if status == "ok" else "diverged: loss became nan at epoch 1, step 3",
        "metrics": metrics, "speed": {"train_tokens_per_s": {"median": 1000.0}, "eval_tokens_per_s": {"median": 5000.0}},
        "wall_seconds": 2.0, "parameters": 1234, "oracle": {"valid": {"perplexity": 30.0}, "test": {"perplexity": 31.0}},
        "finished_at": finished, **({"config": config} if config else {}),
    }


RESULTS = [
    result("none", 0, 50.0), result("none", 1, 52.0),
    result("variational", 0, 44.0), result("variational", 1, 46.0),
    result("moon", 0, 0, status="failed"),
]


def test_rows_rank_average_and_keep_failures():
    rows = build_rows(RESULTS)
    assert [r["regularizer"] for r in rows] == ["variational", "none", "moon"]
    v = rows[0]
    assert v["n"] == 2 and v["rank"] == 1
    assert v["metrics"]["valid_perplexity"] == {"mean": 45.0, "std": pytest.approx(1.4142135, rel=1e-6)}
    assert v["delta_vs_none"] == pytest.approx(-6.0)
    assert rows[2]["status"] == "failed" and "diverged" in rows[2]["errors"][0]
    assert set(rows[0]) >= {"task", "regularizer", "n", "metrics", "status"}


def test_newest_result_per_seed_wins():
    rows = build_rows([result("none", 0, 80.0, finished="2026-01-01"), result("none", 0, 50.0, finished="2026-02-01")])
    assert rows[0]["n"] == 1 and rows[0]["metrics"]["valid_perplexity"]["mean"] == 50.0


def test_markdown_and_csv_show_the_numbers_and_the_floor():
    text = render_markdown(build_rows(RESULTS))
    assert "| 1 | variational | 2 | 45.00 ± 1.41 |" in text
    assert "oracle floor (known process) |  | 30.00 | 31.00 |" in text
    assert "failed: seed 0: diverged" in text
    rows = list(csv.DictReader(io.StringIO(render_csv(build_rows(RESULTS)))))
    assert rows[0]["regularizer"] == "variational" and float(rows[0]["valid_perplexity_mean"]) == 45.0


def test_cli_formats_write_and_check(tmp_path):
    results = tmp_path / "results"
    for r in RESULTS:
        write_atomic(result_path(results, "synthetic-lm", r["regularizer"]["label"], r["seed"], "abc" * 10), r)
    runner = CliRunner()
    out = runner.invoke(cli, ["leaderboard", str(results), "--format", "json"])
    assert out.exit_code == 0
    assert [row["regularizer"] for row in json.loads(out.stdout)] == ["variational", "none", "moon"]

    board = tmp_path / "LEADERBOARD.md"
    assert runner.invoke(cli, ["leaderboard", str(results), "--check", str(board)]).exit_code == 1
    assert runner.invoke(cli, ["leaderboard", str(results), "--write", str(board)]).exit_code == 0
    assert runner.invoke(cli, ["leaderboard", str(results), "--check", str(board)]).exit_code == 0
    # a new result makes the committed board stale
    write_atomic(result_path(results, "synthetic-lm", "zaremba", 0, "def" * 10), result("zaremba", 0, 40.0))
    stale = runner.invoke(cli, ["leaderboard", str(results), "--check", str(board)])
    assert stale.exit_code == 1 and "is out of date" in stale.output


def test_missing_results_folder_is_a_one_line_error(tmp_path):
    out = CliRunner().invoke(cli, ["leaderboard", str(tmp_path / "nope")])
    assert out.exit_code == 1 and "does not exist" in out.output and "Traceback" not in out.output


def config(label, epochs=22, cell="lstm", version="1", mc=0):
    return {"task": {"name": "synthetic-lm"}, "model": {"cell": cell}, "train": {"epochs": epochs},
            "evaluation": {"mc_samples": mc}, "versions": {"rnnreg": "0.4.0"},
            "regularizer": {"label": label, "spec": label, "versions": {label: version}}}


def test_two_configurations_with_one_label_are_two_sections_not_a_replacement():
    """A 1-epoch `none` written beside the 22-epoch results replaces nothing and moves no Δ."""
    results = [result("none", 0, 50.0, config=config("none")), result("variational", 0, 44.0, config=config("variational")),
               result("none", 0, 270.0, config=config("none", epochs=1), finished="2026-12-01")]
    rows = build_rows(results)
    assert len(rows) == 3
    by_section = {(r["section"], r["regularizer"]): r for r in rows}
    assert by_section["train.epochs=22", "variational"]["delta_vs_none"] == pytest.approx(-6.0)
    assert by_section["train.epochs=22", "none"]["metrics"]["valid_perplexity"]["mean"] == 50.0
    assert by_section["train.epochs=1", "none"]["metrics"]["valid_perplexity"]["mean"] == 270.0
    assert by_section["train.epochs=1", "none"]["rank"] == 1 and by_section["train.epochs=22", "variational"]["rank"] == 1
    text = render_markdown(rows)
    assert "## synthetic-lm · train.epochs=1" in text and "## synthetic-lm · train.epochs=22" in text


def test_same_label_different_regularizer_configs_are_two_rows_told_apart():
    results = [result("moon", 0, 47.0, config=config("moon", version="1")),
               result("moon", 0, 46.0, config=config("moon", version="2"))]
    rows = build_rows(results)
    assert sorted(r["regularizer"] for r in rows) == ["moon (versions.moon=1)", "moon (versions.moon=2)"]
    assert {r["section"] for r in rows} == {""}


def test_mc_numbers_carry_their_passes():
    r = result("variational", 0, 44.0, config=config("variational", mc=100))
    r["metrics"]["valid_perplexity_mc"] = {"value": 45.0, "higher_is_better": False, "mc_samples": 100}
    r["mc_samples"] = 100
    [row] = build_rows([r])
    assert row["mc_samples"] == 100
    assert "| valid MC (100) | test MC (100) |" in render_markdown([row])


def test_one_seed_boards_say_differences_are_untested(tmp_path):
    for r in RESULTS[::2]:
        write_atomic(result_path(tmp_path, "synthetic-lm", r["regularizer"]["label"], r["seed"], "abc" * 10), r)
    out = CliRunner().invoke(cli, ["leaderboard", str(tmp_path), "--format", "markdown"])
    assert "1 seed per row: differences between rows are untested" in out.stderr
