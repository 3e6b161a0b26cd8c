"""Leaderboards come from result files alone: ranking, mean ± 95 % t-interval, failures kept, formats, --check."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from rnnreg.cli import cli
from rnnreg.identity import config_hash
from rnnreg.leaderboard import build_rows
from rnnreg.rendering import render_csv, render_json, render_markdown
from rnnreg.storage import result_path, write_atomic


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


def sealed(r):
    """`r` as rnnreg writes it: a complete config (the fields above, defaults for the rest) and its hash, so
    that it passes the validation every reader applies."""
    r = json.loads(json.dumps(r))
    r["task"] = {"version": "1", "primary_metric": "perplexity", **r["task"]}
    r["regularizer"] = {"params": {}, "versions": {}, **r["regularizer"]}
    r["config"] = {"schema_version": 1, "versions": {"rnnreg": "0.4.0", "torch": "2.13.0"}, "model": {}, "train": {},
                   "evaluation": {}, "device": "cpu", **r.get("config", {}),
                   "task": {k: r["task"][k] for k in ("name", "version", "kind")}, "regularizer": r["regularizer"],
                   "seed": r["seed"]}
    r["config_hash"] = config_hash(r["config"])
    r.setdefault("curves", [])
    return r


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
    # 95 % t-interval of (44, 46): 45 ± t(0.975, 1) · 1.4142 / √2 = 45 ± 12.706
    assert v["metrics"]["valid_perplexity"] == {"mean": 45.0, "std": pytest.approx(1.4142135, rel=1e-6),
                                                "ci_low": pytest.approx(45 - 12.7062, rel=1e-5),
                                                "ci_high": pytest.approx(45 + 12.7062, rel=1e-5)}
    assert v["delta_vs_none"] == pytest.approx(-6.0)
    assert rows[2]["status"] == "failed" and "diverged" in rows[2]["errors"][0]
    assert set(rows[0]) >= {"task", "regularizer", "n", "metrics", "status"}


def test_newest_result_per_seed_wins():
    rows = build_rows([result("none", 0, 80.0, finished="2026-01-01"), result("none", 0, 50.0, finished="2026-02-01")])
    assert rows[0]["n"] == 1 and rows[0]["metrics"]["valid_perplexity"]["mean"] == 50.0


def test_markdown_and_csv_show_the_numbers_and_the_floor():
    text = render_markdown(build_rows(RESULTS))
    assert "| 1 | variational | 2 | 45.00 ± 12.71 |" in text
    assert "oracle floor (known process) |  | 30.00 | 31.00 |" in text
    assert "failed: seed 0: diverged" in text
    rows = list(csv.DictReader(io.StringIO(render_csv(build_rows(RESULTS)))))
    assert rows[0]["regularizer"] == "variational" and float(rows[0]["valid_perplexity_mean"]) == 45.0


def test_cli_formats_write_and_check(tmp_path):
    results = tmp_path / "results"
    for r in RESULTS:
        write_atomic(result_path(results, "synthetic-lm", r["regularizer"]["label"], r["seed"], "abc" * 10), sealed(r))
    runner = CliRunner()
    out = runner.invoke(cli, ["leaderboard", str(results), "--format", "json"])
    assert out.exit_code == 0
    assert [row["regularizer"] for row in json.loads(out.stdout)] == ["variational", "none", "moon"]

    board = tmp_path / "LEADERBOARD.md"
    assert runner.invoke(cli, ["leaderboard", str(results), "--check", str(board)]).exit_code == 1
    assert runner.invoke(cli, ["leaderboard", str(results), "--write", str(board)]).exit_code == 0
    assert runner.invoke(cli, ["leaderboard", str(results), "--check", str(board)]).exit_code == 0
    # the header says what ± is, as every section caption does: the 95 % t-interval, never the std
    text = board.read_text()
    assert "± std" not in text and "half-width of their 95 % t-interval" in text and "± is the 95 % t-interval" in text
    # a new result makes the committed board stale
    write_atomic(result_path(results, "synthetic-lm", "zaremba", 0, "def" * 10), sealed(result("zaremba", 0, 40.0)))
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
    assert by_section["LSTM, 22 epochs", "variational"]["delta_vs_none"] == pytest.approx(-6.0)
    assert by_section["LSTM, 22 epochs", "none"]["metrics"]["valid_perplexity"]["mean"] == 50.0
    assert by_section["LSTM, 1 epoch", "none"]["metrics"]["valid_perplexity"]["mean"] == 270.0
    assert by_section["LSTM, 1 epoch", "none"]["rank"] == 1 and by_section["LSTM, 22 epochs", "variational"]["rank"] == 1
    text = render_markdown(rows)
    assert "## synthetic-lm · LSTM, 1 epoch\n" in text and "## synthetic-lm · LSTM, 22 epochs\n" in text


def test_sections_order_their_numbers_as_numbers():
    """Text order would put "22 epochs" before "3 epochs"; a reader scanning the board expects 3 first."""
    results = [result("none", 0, 50.0, config=config("none", epochs=22)),
               result("none", 0, 60.0, config=config("none", epochs=3))]
    text = render_markdown(build_rows(results))
    assert text.index("## synthetic-lm · LSTM, 3 epochs\n") < text.index("## synthetic-lm · LSTM, 22 epochs\n")


def test_a_section_heading_gives_the_model_size_and_budget_then_what_else_differs():
    small = {"model": {"cell": "lstm", "num_layers": 2, "hidden_size": 200},
             "train": {"epochs": 13, "batch_size": 20, "bptt": 20, "lr": 1.0}}
    cut = {"model": {"cell": "lstm", "num_layers": 2, "hidden_size": 200},
           "train": {"epochs": 13, "batch_size": 20, "bptt": 20, "lr": 0.5, "max_steps": 400}}
    results = [result("none", 0, 120.0, config={**config("none"), **small}),
               result("none", 0, 150.0, config={**config("none"), **cut})]
    assert sorted(r["section"] for r in build_rows(results)) == [
        "2 × 200 LSTM, 13 epochs of 400 steps, batch 20 × BPTT 20 · lr 0.5",
        "2 × 200 LSTM, 13 epochs, batch 20 × BPTT 20 · lr 1",
    ]
    assert [r["section"] for r in build_rows(results[:1])] == ["2 × 200 LSTM, 13 epochs, batch 20 × BPTT 20"]


def test_same_label_different_regularizer_configs_are_two_rows_told_apart():
    results = [result("moon", 0, 47.0, config=config("moon", version="1")),
               result("moon", 0, 46.0, config=config("moon", version="2"))]
    rows = build_rows(results)
    assert sorted(r["regularizer"] for r in rows) == ["moon (versions.moon=1)", "moon (versions.moon=2)"]
    assert {r["section"] for r in rows} == {"LSTM, 22 epochs"}


def test_mc_numbers_carry_their_passes():
    r = result("variational", 0, 44.0, config=config("variational", mc=100))
    r["metrics"]["valid_perplexity_mc"] = {"value": 45.0, "higher_is_better": False, "mc_samples": 100}
    r["mc_samples"] = 100
    [row] = build_rows([r])
    assert row["mc_samples"] == 100
    table = render_markdown([row])
    assert "| valid MC (100) |" in table
    assert "test MC" not in table  # no row has a test MC number: the empty column is left out


def test_one_seed_boards_say_differences_are_untested(tmp_path):
    for r in RESULTS[::2]:
        write_atomic(result_path(tmp_path, "synthetic-lm", r["regularizer"]["label"], r["seed"], "abc" * 10), sealed(r))
    out = CliRunner().invoke(cli, ["leaderboard", str(tmp_path), "--format", "markdown"])
    assert "1 seed per row: differences between rows are untested" in out.stderr


# --- statistics on small hand-made result sets ----------------------------------------------------


def seeds_of(label, valids, tests=None):
    return [result(label, seed, v, (tests or valids)[seed]) for seed, v in enumerate(valids)]


def by_label(rows):
    return {r["regularizer"]: r for r in rows}


def test_a_known_significant_difference_is_ranked_apart():
    # b is worse than a by 2.0 ± 0.1 on every seed: the paired t-test sees it, whatever the seed spread.
    rows = by_label(build_rows(seeds_of("a", [40.0, 45.0, 50.0, 42.0, 47.0])
                               + seeds_of("b", [42.1, 46.9, 52.0, 44.1, 48.9])))
    assert rows["a"]["rank_label"] == "1" and rows["a"]["tied_with_best"] is True
    b = rows["b"]
    assert b["tied_with_best"] is False and b["rank_label"] == "2"
    from scipy import stats

    expected = stats.ttest_rel([42.1, 46.9, 52.0, 44.1, 48.9], [40.0, 45.0, 50.0, 42.0, 47.0]).pvalue
    assert b["p_value_vs_best"] == pytest.approx(expected) and b["p_value_vs_best"] < 1e-4


def test_a_known_tie_shares_the_first_rank():
    # The means differ by 0.2 but the per-seed differences flip sign: not significant.
    rows = by_label(build_rows(seeds_of("a", [40.0, 45.0, 50.0, 42.0, 47.0])
                               + seeds_of("b", [41.0, 44.0, 51.5, 41.0, 47.5])))
    assert rows["b"]["tied_with_best"] is True and rows["b"]["p_value_vs_best"] > 0.05
    assert rows["a"]["rank_label"] == "1" and rows["b"]["rank_label"] == "2 ≈"  # rank by mean, then the mark
    assert "| 1 | a | 5 |" in render_markdown(list(rows.values())) and "| 2 ≈ | b | 5 |" in render_markdown(
        list(rows.values()))


def test_delta_vs_none_has_its_own_paired_interval():
    rows = by_label(build_rows(seeds_of("none", [50.0, 55.0, 60.0]) + seeds_of("v", [48.0, 52.0, 58.0])))
    v = rows["v"]
    assert v["delta_vs_none"] == pytest.approx(-7 / 3)
    from scipy import stats

    diffs = [-2.0, -3.0, -2.0]
    low, high = stats.t.interval(0.95, 2, loc=sum(diffs) / 3, scale=stats.sem(diffs))
    assert (v["delta_vs_none_ci_low"], v["delta_vs_none_ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_one_seed_leaves_the_statistics_null_and_says_so():
    rows = build_rows([result("a", 0, 40.0), result("b", 0, 41.0)])
    for row in rows:
        assert row["p_value_vs_best"] is None and row["tied_with_best"] is None
        assert row["metrics"]["valid_perplexity"]["ci_low"] is None
    assert "1 seed: differences untested" in render_markdown(rows)
    data = json.loads(render_json(rows))
    assert {"tied_with_best", "p_value_vs_best", "delta_vs_none_ci_low"} <= set(data[0]) and "_by_seed" not in data[0]


def test_a_swept_pair_of_parameters_is_shown_as_a_grid():
    results = []
    for p_rec in (0.0, 0.5):
        for p_emb in (0.0, 0.5):
            label = f"variational+embedding[embedding.p={p_emb},p_recurrent={p_rec}]"
            r = result(label, 0, 40.0 + 10 * p_rec + 2 * p_emb, spec="variational+embedding")
            r["config"] = {"regularizer": {"label": label, "spec": "variational+embedding",
                                           "params": {"variational": {"p_recurrent": p_rec}, "embedding": {"p": p_emb}}}}
            results.append(r)
    text = render_markdown(build_rows(results))
    assert "variational+embedding sweep on synthetic-lm: valid perplexity" in text
    assert "| embedding.p \\ variational.p_recurrent | 0.0 | 0.5 |" in text
    assert "| 0.5 | 41.00 | 46.00 |" in text


def test_the_board_shows_the_tasks_current_published_references(tmp_path):
    """A result run before a published row was added still gets it on the board (references are facts about
    papers, read from the registered task, not from the run)."""
    from rnnreg.tasks.text import PennTreebank

    old = {**result("none", 0, 120.0), "task": {"name": "ptb", "kind": "language-model"},
           "reference": {"Zaremba et al. 2014, small (no dropout)": {"valid_perplexity": 120.7, "test_perplexity": 114.5}}}
    write_atomic(result_path(tmp_path, "ptb", "none", 0, "abc" * 10), sealed(old))
    out = CliRunner().invoke(cli, ["leaderboard", str(tmp_path), "--format", "json"])
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout)
    assert row["reference"] == PennTreebank.published
    assert any(source.startswith("Merity et al. 2017, AWD-LSTM") for source in row["reference"])


def test_sections_open_with_multi_seed_boards_and_end_with_history():
    """A reader comes for the multi-seed boards: they come first, a task's bigger board before its proxies,
    and a section of an older numerics release last, whatever the names' alphabetical order says."""
    import rnnreg

    old = {**config("none", epochs=5), "versions": {"rnnreg": "0.0.1", "torch": "2.13.0"}}
    results = ([result("none", s, 50.0 + s, config=config("none", epochs=30)) for s in range(3)]
               + [result(label, 0, 60.0, config=config(label, epochs=2)) for label in ("none", "zaremba", "moon")]
               + [result("none", 0, 70.0, config=config("none", epochs=3))]
               + [result("none", 0, 80.0, config=old)])
    current = {**config("none", epochs=5), "versions": {"rnnreg": rnnreg.NUMERICS_VERSION, "torch": "2.13.0"}}
    results.append(result("none", 0, 81.0, config=current))
    headings = [line for line in render_markdown(build_rows(results)).splitlines() if line.startswith("## ")]
    assert [h.split(" · ")[1] for h in headings][:3] == ["LSTM, 30 epochs", "LSTM, 2 epochs", "LSTM, 3 epochs"]
    assert "rnnreg 0.0.1" in headings[-1]


def test_published_references_are_listed_once_per_task_under_its_main_board():
    reference = {"Zaremba et al. 2014, small": {"valid_perplexity": 120.7, "test_perplexity": 114.5}}
    results = [{**result(label, 0, 100.0, config=config(label, epochs=13)), "reference": reference}
               for label in ("none", "zaremba")]
    results.append({**result("none", 0, 150.0, config=config("none", epochs=2)), "reference": reference})
    text = render_markdown(build_rows(results))
    assert text.count("published: Zaremba et al. 2014, small") == 1
    main, proxy = text.index("## synthetic-lm · LSTM, 13 epochs"), text.index("## synthetic-lm · LSTM, 2 epochs")
    assert main < text.index("published: Zaremba") < proxy
    assert "the published synthetic-lm references are listed under “synthetic-lm · LSTM, 13 epochs”" in text[proxy:]


def test_section_headings_name_settings_in_words_with_the_keys_in_json():
    results = [result("none", 0, 50.0, config={**config("none"), "evaluation": {"mc_samples": 0},
                                                  "train": {"epochs": 22, "weight_decay": 0.0}}),
               result("none", 0, 51.0, config={**config("none"), "evaluation": {"mc_samples": 100},
                                                  "train": {"epochs": 22, "weight_decay": 0.001,
                                                            "weight_decay_mode": "decoupled"}})]
    rows = build_rows(results)
    names = sorted(r["section"].split(" · ")[-1] for r in rows)
    assert names == ["MC 100 passes, weight decay 0.001 (decoupled)", "MC off, no weight decay"]
    settings = sorted(r["setting"] for r in rows)
    assert settings[0].startswith("evaluation.mc_samples=0") and "train.weight_decay=0.0" in settings[0]
