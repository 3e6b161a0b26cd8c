"""The `rnnreg run` command end to end on the embedded tasks, kept tiny; output conventions."""

import csv
import io
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
    names = {row["regularizer"] for row in csv.DictReader(io.StringIO(out.stdout))}
    assert {"none", "naive", "zaremba", "moon", "variational", "embedding", "variational+embedding"} <= names


def test_regularizers_named_on_the_command_line_get_the_suites_dropout_scale(tmp_path):
    """More seeds of one row (`--suite ptb-small -r zaremba --seeds 3`) must run the row the suite ran."""
    suite = tmp_path / "scaled.yaml"
    suite.write_text("dropout_scale: 0.5\ntasks: [synthetic-sentiment]\nregularizers: [none, zaremba]\n")
    results = tmp_path / "results"
    first = invoke("run", "--suite", str(suite), *TINY, "--results-dir", str(results))
    assert first.exit_code == 0, first.output
    again = invoke("run", "--suite", str(suite), "-r", "zaremba", *TINY, "--results-dir", str(results))
    assert again.exit_code == 0, again.output
    assert "runs the suite's row" not in again.stderr  # the plugin's defaults at the suite's scale: nothing to say
    assert "result exists, skipped" in again.stderr  # the same configuration: nothing new ran
    [zaremba] = [json.loads(f.read_text()) for f in results.rglob("zaremba__*.json")]
    assert zaremba["regularizer"]["params"] == {"zaremba": {"p_input": 0.25, "p_output": 0.25}}
    added = invoke("run", "--suite", str(suite), "-r", "variational", *TINY, "--results-dir", str(results))
    assert added.exit_code == 0, added.output  # not one of the suite's rows: the plugin's defaults, scaled
    assert "dropout_scale 0.5 of suite 'scaled' applies to the regularizers named here too" in added.stderr
    [variational] = [json.loads(f.read_text()) for f in results.rglob("variational__*.json")]
    assert variational["regularizer"]["params"]["variational"]["p_recurrent"] == 0.15  # default 0.3 × 0.5


def test_a_suite_row_named_with_r_runs_with_the_suites_parameters_not_the_plugins(tmp_path):
    """`--suite S -r LABEL` reruns S's row LABEL as S wrote it; with --param it is a new row of the plugin."""
    suite = tmp_path / "own.yaml"
    suite.write_text("tasks: [synthetic-sentiment]\nregularizers:\n"
                     "  - {spec: variational, label: variational, params: {p_recurrent: 0.5}, train: {lr: 0.002}}\n"
                     "  - {spec: naive, label: sweep, params: {p_input: [0.1, 0.2]}}\n")
    results = tmp_path / "results"
    out = invoke("run", "--suite", str(suite), "-r", "variational", "-r", "sweep", *TINY, "--results-dir",
                 str(results), "--format", "json")
    assert out.exit_code == 0, out.output
    assert {row["regularizer"] for row in json.loads(out.stdout)} == {
        "variational", "sweep[p_input=0.1]", "sweep[p_input=0.2]"}
    assert "-r variational runs the suite's row: variational (p_recurrent=0.5)" in out.stderr
    [variational] = [json.loads(f.read_text()) for f in results.rglob("variational__*.json")]
    assert variational["regularizer"]["params"]["variational"]["p_recurrent"] == 0.5  # plugin default: 0.3
    assert variational["config"]["train"]["lr"] == 0.002
    own = invoke("run", "--suite", str(suite), "-r", "variational", "--param", "p_input=0.1", *TINY,
                 "--results-dir", str(results), "--format", "json")
    assert own.exit_code == 0, own.output
    assert [row["regularizer"] for row in json.loads(own.stdout)] == ["variational[p_input=0.1]"]


def test_run_with_seeds_and_params(tmp_path):
    out = invoke("run", "-r", "variational", "--param", "untied=true", "-t", "synthetic-sentiment", "--seeds", "2",
                 *TINY, "--results-dir", str(tmp_path), "--format", "json")
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout)
    assert row["regularizer"] == "variational[untied=true]" and row["n"] == 2
    assert row["metrics"]["valid_error"]["std"] >= 0


def test_user_mistakes_are_one_line_errors(tmp_path):
    for args, message in [
        (["run", "-r", "zarmba"], "did you mean 'zaremba'"),
        (["run", "-t", "synthetic"], "unknown task 'synthetic'"),
        (["run", "--set", "train.epoch=1"], "--set: unknown setting 'train.epoch'"),
        (["run", "--suite", str(tmp_path / "missing.yaml")], "does not exist"),
        (["run", "--param", "p=0.1"], "--param needs -r SPEC"),
        (["run", "-r", "zoneout", "--set", "model.cell=gru"], "zoneout on synthetic-lm: the cell site"),
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


# --- mistakes are caught before anything trains ---------------------------------------------------------


def never_train(monkeypatch):
    import rnnreg.runner

    def trained(*args, **kwargs):
        raise AssertionError("a job trained before the mistake was reported")

    monkeypatch.setattr(rnnreg.runner, "train_and_evaluate", trained)


def test_bad_results_folders_and_settings_fail_before_training(tmp_path, monkeypatch):
    never_train(monkeypatch)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    suite = tmp_path / "list-of-names.yaml"
    suite.write_text("tasks:\n  - name: synthetic-lm\nregularizers: [none]\n")
    ok_dir = ["--results-dir", str(tmp_path / "results")]
    cases = [
        (["--results-dir", str(a_file)], "is a file, not a folder"),
        (["--results-dir", str(a_file / "below-a-file")], "is not writable"),
        (["--set", "train.epochs=two", *ok_dir], "train.epochs must be an integer ≥ 1, got 'two'"),
        (["--set", "train.epochs=-1", *ok_dir], "train.epochs must be an integer ≥ 1, got -1"),
        (["--set", "train.weight_decay_mode=sometimes", *ok_dir], "must be one of coupled, decoupled"),
        (["--suite", str(suite), *ok_dir], "tasks[0] must be a task name, got dict"),
        (["--columns", "valid,speed", *ok_dir], "--columns: unknown column 'speed'"),
    ]
    for args, message in cases:
        out = invoke("run", "-t", "synthetic-sentiment", "-r", "none", *args)
        assert out.exit_code == 1, (args, out.output)
        assert message in out.output, (args, out.output)
        assert "Traceback" not in out.output and out.output.count("\n") == 1, out.output
    assert not any(tmp_path.rglob("*.json"))
    monkeypatch.setenv("RNNREG_RESULTS_DIR", str(a_file))
    out = invoke("run", "-t", "synthetic-sentiment", "-r", "none")
    assert out.exit_code == 1 and "is a file, not a folder" in out.output


def test_a_corrupt_result_is_named_fails_the_check_and_is_rerun(tmp_path):
    args = ["run", "-r", "none", "-r", "zaremba", "-t", "synthetic-sentiment", *TINY, "--results-dir", str(tmp_path),
            "--format", "json"]
    assert invoke(*args).exit_code == 0
    [path] = tmp_path.rglob("none__*.json")
    assert oct(path.stat().st_mode & 0o777) == "0o644"  # readable by others, as other tools' files
    path.write_text('{"schema_version": 1, "task": ')  # a write cut short by something other than rnnreg
    board = tmp_path / "BOARD.md"
    listed = invoke("leaderboard", str(tmp_path), "--write", str(board))
    assert f"result left out {path}: not valid JSON" in listed.stderr.replace("\n", "")
    check = invoke("leaderboard", str(tmp_path), "--check", str(board))
    assert check.exit_code == 1 and "fail validation" in check.output
    rerun = invoke(*args)
    assert rerun.exit_code == 0 and "rerun: the result file not valid JSON" in rerun.stderr
    assert json.loads(path.read_text())["status"] == "ok"


def test_failed_jobs_are_retried_unless_asked_not_to(tmp_path):
    args = ["run", "-r", "none", "-t", "synthetic-lm", "--set", "train.epochs=1", "--set", "model.hidden_size=8",
            "--set", "model.embed_size=8", "--set", "model.init_scale=1e38", "--results-dir", str(tmp_path)]
    first = invoke(*args)
    assert first.exit_code == 1 and "failed" in first.stderr
    kept = invoke(*args, "--no-retry-failed")
    assert "result exists, skipped" in kept.stderr
    again = invoke(*args)
    assert "retry: it failed before (diverged: loss became" in again.stderr


def test_the_table_fits_80_columns_and_says_what_it_left_out(tmp_path):
    args = ["run", "-r", "none", "-r", "variational+embedding", "-t", "synthetic-sentiment", *TINY, "--results-dir",
            str(tmp_path)]
    assert invoke(*args).exit_code == 0
    from rich.console import Console

    import rnnreg.cli.output

    for width, shown in ((80, ["#", "regularizer", "n", "valid", "test", "Δ test vs none"]), (120, ["train", "valid MC"])):
        console = Console(width=width, file=io.StringIO(), force_terminal=False)
        original = rnnreg.cli.output.stdout
        rnnreg.cli.output.stdout = console
        try:
            out = invoke("leaderboard", str(tmp_path))
        finally:
            rnnreg.cli.output.stdout = original
        text = console.file.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width
        lines = text.splitlines()
        top = next(i for i, line in enumerate(lines) if line.startswith("┏"))
        header = " ".join(lines[top + 1 : next(i for i, line in enumerate(lines) if line.startswith("┡"))])
        for column in shown:  # a header wider than its cells goes on two lines ("Δ test" over "vs none")
            assert all(word in header for word in column.split()), (width, column, header)
        assert any("│ variational+embedding " in line for line in lines)  # the name whole, on one line
        assert "…" not in text  # nothing clipped
        if width == 80:
            assert "columns left out to fit 80 characters" in out.stderr and "params" in out.stderr
    chosen = invoke("leaderboard", str(tmp_path), "--columns", "regularizer,valid")
    assert chosen.exit_code == 0


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path, monkeypatch):
    import rnnreg.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rnnreg.runner, "train_and_evaluate", interrupted)
    out = invoke("run", "-r", "none", "-t", "synthetic-sentiment", *TINY, "--results-dir", str(tmp_path))
    assert out.exit_code == 130
    assert "interrupted" in out.stderr and "run the same command again to resume" in out.stderr
    assert not any(tmp_path.rglob("*.json"))


def test_a_comma_separated_param_sweeps_it(tmp_path):
    out = invoke("run", "-r", "variational", "--param", "p_recurrent=0,0.5", "-t", "synthetic-sentiment", *TINY,
                 "--results-dir", str(tmp_path), "--format", "json")
    assert out.exit_code == 0, out.output
    assert sorted(r["regularizer"] for r in json.loads(out.stdout)) == ["variational[p_recurrent=0.5]",
                                                                       "variational[p_recurrent=0]"]
    assert len(list(tmp_path.rglob("*.json"))) == 2


def test_a_value_given_twice_runs_once(tmp_path):
    out = invoke("run", "-r", "variational", "--param", "p_recurrent=0.3,0.3", "-t", "synthetic-sentiment", *TINY,
                 "--results-dir", str(tmp_path), "--format", "json")
    assert out.exit_code == 0, out.output
    assert "variational[p_recurrent=0.3] · seed 0 is listed more than once with the same config: it runs once" \
        in out.stderr.replace("\n", "")
    assert len(list(tmp_path.rglob("*.json"))) == 1 and out.stderr.count("[1/1]") >= 1


def test_the_command_line_starts_without_importing_torch():
    """`rnnreg --help` needs click, not torch (about 2 s to import): the plugin API is imported on first use."""
    import subprocess
    import sys

    probe = "import sys, rnnreg.cli; from rnnreg.cli import cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    helped = subprocess.run([sys.executable, "-m", "rnnreg", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "tune" in helped.stdout
    from rnnreg import Regularizer, SiteRule, Task  # the lazy names still resolve to the real classes

    assert Regularizer.__module__ == "rnnreg.regularizer" and SiteRule.__module__ == "rnnreg.dropout"
    assert Task.__module__ == "rnnreg.tasks.base"
