"""`rnnreg explain`: the JSON picture's exact shape, and what it shows for each regularizer."""

import json

import pytest
from click.testing import CliRunner

from rnnreg.cli import cli


def explain(*args):
    result = CliRunner().invoke(cli, ["explain", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_shape():
    picture = explain("variational+embedding", "--steps", "6", "--units", "10", "--tokens", "the dog and the cat")
    assert set(picture) == {"spec", "layer", "steps", "units", "tokens", "sites", "kinds", "penalties"}
    assert set(picture["sites"]) == {"embedding", "input", "weight_recurrent", "recurrent", "candidate", "cell",
                                     "hidden", "output"}
    assert picture["kinds"] == {"embedding": "dropout", "input": "dropout", "recurrent": "dropout", "output": "dropout"}
    assert picture["tokens"] == ["the", "dog", "and", "the", "cat", "the"]  # words repeat to fill the steps
    assert picture["sites"]["cell"] is None
    assert len(picture["sites"]["embedding"]) == 6
    for site in ("input", "recurrent", "output"):
        rows = picture["sites"][site]
        assert len(rows) == 6 and all(len(r) == 10 and set(r) <= {0, 1} for r in rows)
        assert all(r == rows[0] for r in rows), "variational masks are the same at every step"


def test_embedding_drops_word_types_not_occurrences():
    for seed in range(20):
        picture = explain("embedding", "--tokens", "the dog and the cat", "--steps", "5", "--param", "p=0.5",
                          "--seed", str(seed))
        kept = picture["sites"]["embedding"]
        assert kept[0] == kept[3]  # both "the"


def test_naive_changes_every_step_and_untied_has_gates():
    rows = explain("naive", "--units", "32")["sites"]["recurrent"]
    assert any(rows[t] != rows[0] for t in range(1, 8))
    gates = explain("variational", "--param", "untied=true")["sites"]["input"]
    assert set(gates) == {"i", "f", "g", "o"}
    gru = explain("variational", "--param", "untied=true", "--cell", "gru")["sites"]["recurrent"]
    assert set(gru) == {"r", "z", "n"}


def test_table_form_draws_sites():
    result = CliRunner().invoke(cli, ["explain", "moon", "--steps", "3", "--units", "4"])
    assert result.exit_code == 0
    assert "cell" in result.output and "per sequence" in result.output and "untouched" in result.output


@pytest.mark.parametrize("args,message", [
    (["variationl"], "unknown regularizer 'variationl'; did you mean 'variational'?"),
    (["variational", "--param", "p_input=2"], "'p_input' must be in [0, 1), got 2"),
    (["variational", "--param", "nope"], "--param expects key=value, got 'nope'"),
    (["moon", "--cell", "gru"], "a GRU does not have"),
])
def test_bad_input_is_one_line_and_non_zero(args, message):
    result = CliRunner().invoke(cli, ["explain", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1


def test_a_per_layer_plan_is_drawn_at_the_layer_asked(tmp_path):
    """A rule on the second layer only: layer 0 is untouched, `--layer 1` draws its mask."""
    import json

    from click.testing import CliRunner

    from rnnreg.cli import cli

    (tmp_path / "upper.py").write_text('''
import rnnreg
from rnnreg import Regularizer, SiteRule


class Upper(Regularizer):
    name = "upper"
    params = {"p": 0.5}

    def plan(self):
        return {"recurrent": SiteRule(self.p, per="sequence", layers=(1,))}


@rnnreg.hookimpl
def register_regularizers(register):
    register(Upper)
''')
    pictures = []
    for layer in ("0", "1"):
        out = CliRunner().invoke(cli, ["--plugins-dir", str(tmp_path), "explain", "upper", "--layer", layer,
                                       "--format", "json"])
        assert out.exit_code == 0, out.output
        pictures.append(json.loads(out.stdout))
    assert pictures[0]["sites"]["recurrent"] is None and pictures[0]["layer"] == 0
    rows = pictures[1]["sites"]["recurrent"]
    assert rows and all(row == rows[0] for row in rows) and 0 in rows[0]  # one mask per sequence, some dropped
    text = CliRunner().invoke(cli, ["--plugins-dir", str(tmp_path), "explain", "upper", "--layer", "1"]).stdout
    assert "layer 1, one sample" in text
