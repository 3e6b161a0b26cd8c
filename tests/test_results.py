"""Every result file is validated when read: schema types, per-metric ranges, finite values, and an
identity (config hash, task, regularizer, seed) that is its config's. A file that fails is named with the
reason and left out by every reader; `--check` fails on it; `run` reruns its job."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnreg.cli import cli
from rnnreg.identity import config_hash
from rnnreg.results import UnreadableResult, check_result, read_results

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "benchmarks" / "results" / "quick" / "synthetic-lm"


def committed(label: str, seed: int = 0) -> Path:
    [path] = QUICK.glob(f"{label}__seed{seed}__*.json")
    return path


def set_metric(value):
    def tamper(r):
        r["metrics"]["valid_perplexity"]["value"] = value
    return tamper


def edit_config(r):
    r["config"]["train"]["epochs"] = 99  # the hash no longer matches: another job's numbers under this one's key


def relabel(r):
    r["regularizer"]["label"] = "variational"  # would rank as another row; the config says otherwise


def flip_direction(r):
    r["metrics"]["valid_perplexity"]["higher_is_better"] = True


def drop_metrics(r):
    del r["metrics"]


TAMPERED = [
    (set_metric("44.1"), "metrics.valid_perplexity.value: '44.1' is not of type 'number'"),
    (set_metric(-5.0), "metrics.valid_perplexity.value: -5.0 is less than the minimum of 1"),
    (set_metric(float("nan")), "metrics.valid_perplexity.value: nan is not a finite number"),
    (edit_config, "config_hash that does not match its config"),
    (relabel, "regularizer that differs from its config's"),
    (flip_direction, "higher_is_better: False was expected"),
    (drop_metrics, "'metrics' is a required property"),
]


def tampered_folder(tmp_path: Path, tamper) -> tuple[Path, Path, Path]:
    """Two committed results and the board written from them; then `none`'s file is tampered with."""
    results = tmp_path / "results"
    (results / "synthetic-lm").mkdir(parents=True)
    for label in ("none", "variational"):
        shutil.copy(committed(label), results / "synthetic-lm")
    board = tmp_path / "BOARD.md"
    assert CliRunner().invoke(cli, ["leaderboard", str(results), "--write", str(board)]).exit_code == 0
    bad = results / "synthetic-lm" / committed("none").name
    data = json.loads(bad.read_text())
    tamper(data)
    bad.write_text(json.dumps(data))
    return results, board, bad


def assert_left_out(out, bad: Path, reason: str) -> None:
    said = out.stderr.replace("\n", "")
    assert out.exit_code == 0, out.output
    assert f"result left out {bad}:" in said and reason in said, said
    assert "Traceback" not in out.output


@pytest.mark.parametrize(("tamper", "reason"), TAMPERED, ids=lambda v: getattr(v, "__name__", None))
def test_a_tampered_result_is_named_left_out_and_fails_the_check(tmp_path, tamper, reason):
    results, board, bad = tampered_folder(tmp_path, tamper)
    assert_left_out(CliRunner().invoke(cli, ["leaderboard", str(results)]), bad, reason)
    shown = CliRunner().invoke(cli, ["leaderboard", str(results), "--format", "json"])
    assert_left_out(shown, bad, reason)
    assert [row["regularizer"] for row in json.loads(shown.stdout)] == ["variational"]  # the rest is shown
    check = CliRunner().invoke(cli, ["leaderboard", str(results), "--check", str(board)])
    assert check.exit_code == 1 and "fail validation" in check.output


def test_every_reader_leaves_a_string_metric_out_in_one_line(tmp_path):
    """The case that crashed `report` and `--format json` with a traceback: every reader names it instead."""
    results, _, bad = tampered_folder(tmp_path, set_metric("44.1"))
    reason = "is not of type 'number'"
    assert_left_out(CliRunner().invoke(cli, ["claims", str(results)]), bad, reason)
    assert_left_out(CliRunner().invoke(cli, ["plot", "curves", str(results), "-t", "synthetic-lm", "-o",
                                             str(tmp_path / "c.png")]), bad, reason)
    report = CliRunner().invoke(cli, ["report", str(results), "--out", str(tmp_path / "site")])
    assert_left_out(report, bad, reason)
    assert "1 failed validation, left out" in (tmp_path / "site" / "index.html").read_text()


def test_every_committed_result_passes_the_schema_and_its_hash():
    results, rejected = read_results(ROOT / "benchmarks" / "results")
    assert rejected == [] and len(results) >= 232


def test_the_ranges_follow_the_metric():
    r = json.loads(committed("none").read_text())
    for name, value, ok in [("valid_perplexity", 1.0, True), ("valid_perplexity", 0.99, False),
                            ("test_perplexity", float("inf"), False)]:
        r["metrics"][name]["value"] = value
        if ok:
            check_result(r)
        else:
            with pytest.raises(UnreadableResult, match="less than the minimum of 1|not a finite number"):
                check_result(r)
    r = json.loads(committed("none").read_text())
    error = {"value": 1.2, "higher_is_better": False}
    sentiment = {**r, "metrics": {**r["metrics"], "valid_error": error}}
    with pytest.raises(UnreadableResult, match="1.2 is greater than the maximum of 1"):
        check_result(sentiment)
    for value in (0.0, 1.0):
        check_result({**r, "metrics": {**r["metrics"], "valid_error": {**error, "value": value}}})


def test_run_reruns_a_job_whose_result_fails_validation(tmp_path):
    args = ["run", "-r", "none", "-t", "synthetic-sentiment", "--set", "train.epochs=1", "--set",
            "model.hidden_size=8", "--set", "model.embed_size=8", "--results-dir", str(tmp_path)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    [path] = tmp_path.rglob("none__*.json")
    data = json.loads(path.read_text())
    data["metrics"]["valid_error"]["value"] = -1.0
    path.write_text(json.dumps(data))
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "rerun: the result file fails the result schema at metrics.valid_error.value" in again.stderr
    assert json.loads(path.read_text())["metrics"]["valid_error"]["value"] >= 0


def test_a_result_under_another_configs_name_is_rerun(tmp_path):
    """The cache check compares the stored hash with the job's: a valid file copied over another job's path
    is that other job's result, not this one's."""
    args = ["run", "-r", "none", "-t", "synthetic-sentiment", "--set", "train.epochs=1", "--set",
            "model.hidden_size=8", "--set", "model.embed_size=8", "--results-dir", str(tmp_path)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    [path] = tmp_path.rglob("none__*.json")
    other = json.loads(path.read_text())
    other["config"]["seed"] = other["seed"] = 1
    other["config_hash"] = config_hash(other["config"])
    path.write_text(json.dumps(other))
    again = CliRunner().invoke(cli, args)
    assert "rerun: the result file at its path belongs to another config" in again.stderr


def test_committed_results_record_no_machines_absolute_paths():
    results, _ = read_results(ROOT / "benchmarks" / "results")
    sources = {r["suite"]["source"] for r in results if r.get("suite") and r["suite"].get("source")}
    assert sources and not [s for s in sources if s.startswith("/")]


def test_the_index_never_serves_a_stale_row(tmp_path):
    """Reads keep what they found in RESULTS_DIR/.rnnreg-index; a file edited after that (new mtime or
    size) is read and checked again, a removed one drops out, and a broken index is rebuilt."""
    import os

    results = tmp_path / "results"
    (results / "synthetic-lm").mkdir(parents=True)
    for label in ("none", "variational"):
        shutil.copy(committed(label), results / "synthetic-lm")

    def board():
        out = CliRunner().invoke(cli, ["leaderboard", str(results), "--format", "json"])
        assert out.exit_code == 0, out.output
        return {row["regularizer"]: row["metrics"]["valid_perplexity"]["mean"] for row in json.loads(out.stdout)}

    first = board()
    assert (results / ".rnnreg-index").exists() and board() == first  # the second read served by the index
    edited = results / "synthetic-lm" / committed("none").name
    data = json.loads(edited.read_text())
    data["metrics"]["valid_perplexity"]["value"] = 123.0
    stat = edited.stat()
    edited.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # same second, one nanosecond later
    assert board() == {**first, "none": 123.0}
    data["metrics"]["valid_perplexity"]["value"] = -1.0  # refused, even though the index held it as valid
    edited.write_text(json.dumps(data))
    out = CliRunner().invoke(cli, ["leaderboard", str(results), "--format", "json"])
    assert "result left out" in out.stderr and [r["regularizer"] for r in json.loads(out.stdout)] == ["variational"]
    edited.unlink()
    assert board() == {"variational": first["variational"]}
    (results / ".rnnreg-index").write_text("{not json")
    assert board() == {"variational": first["variational"]}
    assert json.loads((results / ".rnnreg-index").read_text())["files"]  # rebuilt


def test_a_path_is_recorded_relative_to_the_repository_holding_it_whichever_checkout_wrote_it(tmp_path):
    """A study driven from a worktree writes into another checkout's results: no absolute path is kept."""
    from rnnreg.storage import portable_path

    repo = tmp_path / "elsewhere"
    (repo / "benchmarks" / "results").mkdir(parents=True)
    (repo / ".git").write_text("gitdir: /somewhere/.git/worktrees/elsewhere\n")  # a worktree's .git is a file
    target = repo / "benchmarks" / "results" / "studies.sqlite3"
    assert portable_path(str(target)) == "benchmarks/results/studies.sqlite3"
    outside = tmp_path / "plain" / "file.json"
    assert portable_path(str(outside)) == str(outside)  # no repository: as given
    assert portable_path(None) is None
