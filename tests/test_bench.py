"""`rnnreg bench --format json`: the documented shape, one row per spec, the two reference points."""

import json

from click.testing import CliRunner

from rnnreg.bench import flops_per_training_token
from rnnreg.cli import cli


def test_bench_json_has_a_row_per_spec_and_the_references():
    out = CliRunner().invoke(cli, ["bench", "--shape", "small", "--repeats", "1", "--steps", "1", "--format", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert set(report) >= {"device", "shape", "gemm_limit_tokens_per_s", "gemm_kernel", "rows"}
    assert report["shape"] == "small" and report["gemm_limit_tokens_per_s"] > 0
    names = [row["name"] for row in report["rows"]]
    assert names[0] == "fused-reference"
    assert {"none", "naive", "zaremba", "moon", "variational", "embedding", "variational[untied=true]",
            "variational[mask_scope=batch]"} <= set(names)
    for row in report["rows"]:
        assert set(row) >= {"name", "train_tokens_per_s", "eval_tokens_per_s", "ratio_to_fused", "ratio_to_limit",
                            "peak_mem_bytes"}
        assert row["train_tokens_per_s"] > 0 and row["peak_mem_bytes"] > 0
    assert report["rows"][0]["ratio_to_fused"] == 1.0


def test_flops_per_token_matches_the_design_estimate():
    # docs/design.md §4: about 80 MFLOP per training token at the medium shape
    assert 75e6 < flops_per_training_token(650) < 85e6


def test_gru_bench_leaves_out_the_lstm_only_cell_dropout():
    out = CliRunner().invoke(cli, ["bench", "--shape", "small", "--cell", "gru", "--repeats", "1", "--steps", "1",
                                   "--format", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    names = [row["name"] for row in report["rows"]]
    assert report["cell"] == "gru" and names[0] == "fused-reference"
    assert "moon" not in names
    assert {"none", "naive", "variational", "variational[untied=true]"} <= set(names)
    assert flops_per_training_token(650, "gru") < flops_per_training_token(650, "lstm")
