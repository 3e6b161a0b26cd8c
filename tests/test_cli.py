"""The `rnnreg run` command end to end on the embedded tasks, kept tiny; output conventions."""

import json

from click.testing import CliRunner

from rnnreg.cli import cli

TINY = ["--set", "train.epochs=1", "--set", "model.hidden_size=8", "--set", "model.embed_size=8"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_run_prints_the_leaderboard_on_stdout_and_resumes(tmp_path):
    args = ["run", "-r", "none", "-r", "variational+embedding", "-t", "synthetic-sentiment", *TINY,
            "--results-dir", str(tmp_path), "--format", "json"]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    rows = json.loads(first.stdout)
    assert {r["regularizer"] for r in rows} == {"none", "variational+embedding"}
    assert all(r["status"] == "ok" and r["n"] == 1 for r in rows)
    assert "[1/2] synthetic-sentiment · none · seed 0" in first.stderr
    second = invoke(*args)
    assert second.stderr.count("result exists, skipped") == 2
    assert json.loads(second.stdout) == rows


def test_run_all_adds_every_registered_regularizer(tmp_path):
    out = invoke("run", "--all", "-t", "synthetic-sentiment", *TINY, "--results-dir", str(tmp_path), "--format", "csv")
    assert out.exit_code == 0, out.output
    names = {line.split(",")[2] for line in out.stdout.strip().splitlines()[1:]}
    assert {"none", "naive", "zaremba", "moon", "variational", "embedding", "variational+embedding"} <= names


def test_run_with_seeds_and_params(tmp_path):
    out = invoke("run", "-r", "variational", "--param", "untied=true", "-t", "synthetic-sentiment", "--seeds", "2",
                 *TINY, "--results-dir", str(tmp_path), "--format", "json")
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout)
    assert row["regularizer"] == "variational[untied=true]" and row["n"] == 2
    assert row["metrics"]["valid_error"]["std"] >= 0


def test_user_mistakes_are_one_line_errors(tmp_path):
    for args, message in [
        (["run", "-r", "zarmba"], "did you mean 'zaremba'?"),
        (["run", "-t", "synthetic"], "unknown task 'synthetic'"),
        (["run", "--set", "train.epoch=1"], "--set: unknown setting 'train.epoch'"),
        (["run", "--suite", str(tmp_path / "missing.yaml")], "does not exist"),
        (["run", "--param", "p=0.1"], "--param needs -r SPEC"),
        (["plugins", "list", "--format", "xml"], "'xml' is not one of"),
    ]:
        out = invoke(*args, "--results-dir", str(tmp_path)) if args[0] == "run" else invoke(*args)
        assert out.exit_code != 0, args
        assert message in out.output, (args, out.output)
        assert "Traceback" not in out.output
    assert not any(tmp_path.rglob("*.json"))


def test_tasks_list_json():
    rows = json.loads(invoke("tasks", "list", "--format", "json").stdout)
    assert {"synthetic-lm", "synthetic-sentiment"} <= {r["name"] for r in rows}
