"""`rnnreg reproduce`: a rerun on this machine is identical; the verdicts follow the stated margins; a
result whose config cannot be rebuilt here is said to be not comparable instead of retrained as
something else."""

import copy
import json
from pathlib import Path

from click.testing import CliRunner

from rnnreg import reproduce as rp
from rnnreg.cli import cli

JOB = ["-r", "variational", "-t", "synthetic-sentiment", "--set", "train.epochs=2"]


def committed(tmp_path: Path, *extra: str) -> Path:
    suite = tmp_path / "no-mc.yaml"
    suite.write_text("evaluation: {mc_samples: 0}\ntasks: [synthetic-sentiment]\nregularizers: [none]\n")
    folder = tmp_path / "committed"
    out = CliRunner().invoke(cli, ["run", "--suite", str(suite), *JOB, *extra, "--results-dir", str(folder)])
    assert out.exit_code == 0, out.output
    return folder


def test_a_rerun_here_is_identical_and_exits_zero(tmp_path):
    folder = committed(tmp_path)
    out = CliRunner().invoke(cli, ["reproduce", str(folder), "--format", "json"])
    assert out.exit_code == 0, out.output
    [verdict] = json.loads(out.stdout)
    assert verdict["verdict"] == "identical" and verdict["regularizer"] == "variational"
    assert set(verdict["metrics"]) == {"valid_error", "test_error", "train_error"}
    assert "1 identical, 0 within, 0 different, 0 not comparable of 1 reruns" in out.output


def test_nothing_to_rerun_is_a_one_line_error(tmp_path):
    folder = committed(tmp_path)
    out = CliRunner().invoke(cli, ["reproduce", str(folder), "--seeds", "7"])
    assert out.exit_code != 0 and "no finished result" in out.output and "Traceback" not in out.output


def result(value: float, seed: int = 0) -> dict:
    return {"task": {"name": "t"}, "regularizer": {"label": "r"}, "seed": seed, "status": "ok",
            "config": {"task": {"name": "t"}, "regularizer": {"label": "r"}, "seed": seed},
            "metrics": {"valid_error": {"value": value}}}


def test_verdicts_follow_the_rows_seed_spread_or_the_relative_margin():
    rows = [result(v, seed) for seed, v in enumerate([0.20, 0.22, 0.24])]  # standard deviation 0.02
    margins = rp.margins(rows, relative_margin=0.01)[rp.row_key(rows[0])]
    # two independent draws of the row differ by N(0, 2 · 0.02²): 95 % within 1.96 · √2 · 0.02 = 0.0554
    assert abs(margins["valid_error"] - 1.96 * 2**0.5 * 0.02) < 1e-12
    assert rp.compare(rows[0], result(0.20), margins, 0.01).status == "identical"
    assert rp.compare(rows[0], result(0.25), margins, 0.01).status == "within"
    assert rp.compare(rows[0], result(0.26), margins, 0.01).status == "different"
    # one seed: no spread to measure, so the stated relative margin (1 % of 0.20 = 0.002)
    assert rp.compare(rows[0], result(0.2015), {}, 0.01).status == "within"
    assert rp.compare(rows[0], result(0.203), {}, 0.01).status == "different"
    failed = {**result(0.2), "status": "failed", "error": "diverged"}
    assert rp.compare(rows[0], failed, margins, 0.01).status == "different"


def test_a_config_from_another_version_is_not_comparable(tmp_path, plugins):
    [path] = list((committed(tmp_path)).rglob("*.json"))
    old = json.loads(path.read_text())
    rebuilt = rp.rebuild(old, plugins)
    assert rebuilt.job is not None and rebuilt.why == "" and rebuilt.environment == ""
    assert rebuilt.digest == old["config_hash"]
    older = copy.deepcopy(old)
    older["config"]["versions"]["rnnreg"] = "0.3.0"
    rebuilt = rp.rebuild(older, plugins)
    assert rebuilt.job is None and "numerics: '0.3.0' committed, " in rebuilt.why
    older = copy.deepcopy(old)
    older["config"]["regularizer"]["versions"] = {name: "0" for name in older["config"]["regularizer"]["versions"]}
    assert rp.rebuild(older, plugins).job is None


def test_another_torch_build_or_device_is_rerun_and_named(tmp_path, plugins):
    """The same experiment under another torch build or on another device differs in rounding only, as on
    another machine: it is rerun and compared (within seed noise is the promise), and the verdict says what
    differs."""
    [path] = list((committed(tmp_path)).rglob("*.json"))
    other = json.loads(path.read_text())
    other["config"]["versions"]["torch"] = "2.99.0+cu999"
    other["config"]["device"] = "cuda"
    rebuilt = rp.rebuild(other, plugins)
    assert rebuilt.job is not None and rebuilt.digest == json.loads(path.read_text())["config_hash"]  # here's job
    assert "versions.torch: '2.99.0+cu999' committed" in rebuilt.environment
    assert "device: 'cuda' committed, 'cpu' here" in rebuilt.environment
