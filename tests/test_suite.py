"""Suites are validated on load: one-line errors that name the file, the key and what is allowed."""

import pytest
import yaml

from rnnreg.errors import RnnregError
from rnnreg.suite import load_suite


def write(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_the_default_suite_covers_every_builtin(plugins):
    suite = load_suite(None, plugins)
    assert suite.name == "quick"
    assert {r.spec.split("+")[0] for r in suite.regularizers} >= set(plugins.regularizers.names())
    assert "variational+embedding" in [r.label for r in suite.regularizers]
    assert set(suite.tasks) == {"synthetic-lm", "synthetic-sentiment"}


def test_seed_count_and_labels(tmp_path, plugins):
    suite = load_suite(write(tmp_path, """
seeds: 3
tasks: [synthetic-lm]
regularizers: [none, {spec: variational, params: {untied: true}}]
"""), plugins)
    assert suite.seeds == [0, 1, 2]
    assert [r.label for r in suite.regularizers] == ["none", "variational[untied=true]"]


@pytest.mark.parametrize("text,message", [
    ("tasks: [synthetic-lm]\nregularizers: [none]\nseed: 1\n", "unknown key 'seed' (allowed: claims, description, dropout_scale, evaluation, name, regularizers, seeds, tasks, tune)"),
    ("tasks: [synthetic-lm]\nregularizers: [nonee]\n", "regularizers[0]: unknown regularizer 'nonee'; did you mean 'none'"),
    ("tasks: [synthetic-llm]\nregularizers: [none]\n", "unknown key tasks.'synthetic-llm'"),
    ("tasks: {synthetic-lm: {train: {epoch: 2}}}\nregularizers: [none]\n", "unknown key tasks.synthetic-lm.train.'epoch'"),
    ("tasks: [synthetic-lm]\nregularizers: [none]\nevaluation: {mc_samples: many}\n", "'evaluation.mc_samples' must be a non-negative integer, got 'many'"),
    ("tasks: [synthetic-lm]\nregularizers: [none]\nevaluation: {mc_splits: [train]}\n", "'evaluation.mc_splits' must be a non-empty list of distinct splits from valid, test, got ['train']"),
    ("tasks: [synthetic-lm]\nregularizers: [{spec: variational, params: {p_input: 3}}]\n", "'p_input' must be in [0, 1), got 3"),
    ("tasks: [synthetic-lm]\nregularizers: [none, none]\n", "duplicate regularizer label(s) none"),
    ("tasks: [synthetic-lm]\n", "missing key 'regularizers'"),
    ("tasks: [synthetic-lm\n", "not valid YAML at line"),
])
def test_bad_suites_fail_in_one_line(tmp_path, plugins, text, message):
    path = write(tmp_path, text)
    with pytest.raises(RnnregError) as err:
        load_suite(path, plugins)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_builtin_suite_lists_the_known(plugins):
    with pytest.raises(RnnregError, match="unknown suite 'quik' \\(built in: .*quick"):
        load_suite("quik", plugins)


def test_every_shipped_suite_loads(plugins):
    from pathlib import Path

    import rnnreg_suites

    for path in Path(rnnreg_suites.__file__).parent.glob("*.yaml"):
        assert yaml.safe_load(path.read_text())
        load_suite(path, plugins)


# Zaremba's and Gal's main.lua divide the rate at the end of every epoch e > max_epoch, so the first
# decayed epoch is max_epoch + 2 (Zaremba small: max_epoch 4, epochs 1-5 at lr 1, epoch 6 at 0.5).
MAIN_LUA_MAX_EPOCH = {"zaremba-small": 4, "zaremba-medium": 6, "zaremba-large": 14, "gal-medium": 6, "gal-large": 10}


@pytest.mark.parametrize("name", sorted(MAIN_LUA_MAX_EPOCH))
def test_presets_follow_main_lua_learning_rate_schedule(name, plugins):
    from rnnreg.jobs import expand
    from rnnreg.trainer import lm_learning_rate

    train = expand(load_suite(name, plugins), plugins)[0].train
    max_epoch = MAIN_LUA_MAX_EPOCH[name]

    def main_lua(epochs):  # the reference: main.lua's loop, decaying at the end of each epoch
        lr, rates = train["lr"], []
        for epoch in range(1, epochs + 1):
            rates.append(lr)
            if epoch > max_epoch:
                lr = lr / train["lr_decay"]
        return rates

    ours = [lm_learning_rate(train, e) for e in range(1, train["epochs"] + 1)]
    assert ours == pytest.approx(main_lua(train["epochs"]))
    if name == "zaremba-small":
        assert ours[:7] == [1.0] * 5 + [0.5, 0.25]


def test_gal_presets_decay_weights_as_gal_does(plugins):
    from rnnreg.jobs import expand

    for name in ("gal-medium", "gal-large"):
        train = expand(load_suite(name, plugins), plugins)[0].train
        assert train["weight_decay_mode"] == "decoupled" and train["weight_decay"] == 1e-7


def test_a_list_of_values_sweeps_a_parameter_and_two_lists_make_a_grid(tmp_path, plugins):
    suite = load_suite(write(tmp_path, """
tasks: [synthetic-lm]
regularizers:
  - {spec: variational+embedding, params: {p_recurrent: [0.0, 0.5], embedding.p: [0.0, 0.25, 0.5]}}
  - {spec: variational, label: v, params: {p_recurrent: [0.0, 0.5], untied: true}}
"""), plugins)
    labels = [r.label for r in suite.regularizers]
    assert len(labels) == 6 + 2 and len(set(labels)) == 8
    assert "variational+embedding[embedding.p=0.25,p_recurrent=0.5]" in labels
    assert labels[-2:] == ["v[p_recurrent=0.0]", "v[p_recurrent=0.5]"]
    assert suite.regularizers[-1].params == {"p_recurrent": 0.5, "untied": True}


def test_a_bad_value_inside_a_sweep_names_the_file_and_entry(tmp_path, plugins):
    with pytest.raises(RnnregError, match=r"s.yaml: regularizers\[0\]: .*'p_recurrent' must be in \[0, 1\), got 1.5"):
        load_suite(write(tmp_path, "tasks: [synthetic-lm]\nregularizers:\n  - {spec: variational, params: {p_recurrent: [0.0, 1.5]}}\n"), plugins)


def test_an_entry_can_train_differently_and_must_say_so_in_its_label(tmp_path, plugins):
    from rnnreg.jobs import expand

    suite = load_suite(write(tmp_path, """
tasks: [synthetic-lm]
regularizers: [variational, {spec: variational, label: variational-wd, train: {weight_decay: 0.001, weight_decay_mode: decoupled}}]
"""), plugins)
    jobs = {job.regularizer.label: job for job in expand(suite, plugins)}
    assert jobs["variational"].train["weight_decay"] == 0.0
    assert (jobs["variational-wd"].train["weight_decay"], jobs["variational-wd"].train["weight_decay_mode"]) == (0.001, "decoupled")
    with pytest.raises(RnnregError, match="needs a 'label'"):
        load_suite(write(tmp_path, "tasks: [synthetic-lm]\nregularizers: [{spec: variational, train: {weight_decay: 0.1}}]\n"), plugins)
    with pytest.raises(RnnregError, match=r"regularizers\[0\]: train.weight_decay must be a number ≥ 0, got -1"):
        load_suite(write(tmp_path, "tasks: [synthetic-lm]\nregularizers: [{spec: variational, label: x, train: {weight_decay: -1}}]\n"), plugins)


def test_an_entry_can_evaluate_differently_and_must_say_so_in_its_label(tmp_path, plugins):
    from rnnreg.jobs import expand

    suite = load_suite(write(tmp_path, """
evaluation: {mc_samples: 0, batch_size: 10}
tasks: [synthetic-lm]
regularizers: [variational, {spec: variational, label: variational-mc, evaluation: {mc_samples: 100}}]
"""), plugins)
    jobs = {job.regularizer.label: job for job in expand(suite, plugins)}
    assert jobs["variational"].evaluation == {"mc_samples": 0, "batch_size": 10}
    assert jobs["variational-mc"].evaluation == {"mc_samples": 100, "batch_size": 10}  # the suite's, overridden
    assert jobs["variational-mc"].train == jobs["variational"].train
    with pytest.raises(RnnregError, match="needs a 'label'"):
        load_suite(write(tmp_path, "tasks: [synthetic-lm]\nregularizers: [{spec: variational, evaluation: {mc_samples: 5}}]\n"), plugins)
    with pytest.raises(RnnregError, match=r"unknown key regularizers\[0\].evaluation.'mc_passes' \(allowed: batch_size, "):
        load_suite(write(tmp_path, "tasks: [synthetic-lm]\nregularizers: [{spec: variational, label: x, evaluation: {mc_passes: 5}}]\n"), plugins)
    with pytest.raises(RnnregError, match=r"'regularizers\[0\].evaluation.mc_samples' must be a non-negative integer, got -5"):
        load_suite(write(tmp_path, "tasks: [synthetic-lm]\nregularizers: [{spec: variational, label: x, evaluation: {mc_samples: -5}}]\n"), plugins)


def test_dropout_scale_multiplies_every_probability_defaults_included(tmp_path, plugins):
    suite = load_suite(write(tmp_path, """
dropout_scale: 0.5
tasks: [synthetic-lm]
regularizers:
  - none
  - zaremba
  - {spec: variational+embedding, params: {p_recurrent: 0.4}}
  - {spec: zoneout, params: {per: sequence}}
  - ar-tar
"""), plugins)
    by_label = {r.label: r.params for r in suite.regularizers}
    assert by_label == {
        "none": {},
        "zaremba": {"p_input": 0.25, "p_output": 0.25},  # defaults 0.5
        "variational+embedding[p_recurrent=0.4]": {"variational.p_input": 0.25, "variational.p_recurrent": 0.2,
                                  "variational.p_output": 0.25, "embedding.p": 0.15},
        "zoneout[per=sequence]": {"per": "sequence", "p_cell": 0.25, "p_hidden": 0.025},  # other parameters kept
        "ar-tar": {},  # alpha and beta are loss weights, not probabilities
    }


def test_a_list_of_dropout_scales_sweeps_each_regularizer_once_per_scale(tmp_path, plugins):
    suite = load_suite(write(tmp_path, """
dropout_scale: [0.25, 1.0]
tasks: [synthetic-lm]
regularizers: [none, zaremba, {spec: variational, params: {p_recurrent: [0.0, 0.5]}}]
"""), plugins)
    assert [(r.label, r.params) for r in suite.regularizers] == [
        ("none", {}),  # nothing to scale: run once
        ("zaremba[dropout_scale=0.25]", {"p_input": 0.125, "p_output": 0.125}),
        ("zaremba[dropout_scale=1.0]", {"p_input": 0.5, "p_output": 0.5}),
        ("variational[p_recurrent=0.0,dropout_scale=0.25]", {"p_input": 0.125, "p_recurrent": 0.0, "p_output": 0.125}),
        ("variational[p_recurrent=0.0,dropout_scale=1.0]", {"p_input": 0.5, "p_recurrent": 0.0, "p_output": 0.5}),
        ("variational[p_recurrent=0.5,dropout_scale=0.25]", {"p_input": 0.125, "p_recurrent": 0.125, "p_output": 0.125}),
        ("variational[p_recurrent=0.5,dropout_scale=1.0]", {"p_input": 0.5, "p_recurrent": 0.5, "p_output": 0.5}),
    ]


@pytest.mark.parametrize("scale,message", [
    ("-0.5", "'dropout_scale' must be a non-negative number or a list of them, got -0.5"),
    ("[]", "'dropout_scale' must be a non-negative number or a list of them, got []"),
    ("half", "'dropout_scale' must be a non-negative number or a list of them, got 'half'"),
    ("2.5", "regularizer 'zaremba' with dropout_scale 2.5: zaremba: parameter 'p_input' must be in [0, 1), got 1.25"),
])
def test_a_bad_dropout_scale_fails_in_one_line(tmp_path, plugins, scale, message):
    with pytest.raises(RnnregError) as info:
        load_suite(write(tmp_path, f"dropout_scale: {scale}\ntasks: [synthetic-lm]\nregularizers: [zaremba]\n"), plugins)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_suite_with_nested_aliases_is_refused_in_one_line_at_once(tmp_path):
    """A "billion laughs": nine levels of nine aliases each. Refused before anything is expanded."""
    import time

    from rnnreg.suite import load_suite

    lines = ["a0: &a0 [0.1]"] + [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(9))}]" for i in range(1, 10)]
    suite = tmp_path / "laughs.yaml"
    suite.write_text("\n".join(lines) + "\ntasks: [synthetic-lm]\nregularizers:\n"
                     "  - {spec: variational, params: {p_input: *a9}}\n")
    start = time.perf_counter()
    with pytest.raises(RnnregError, match=r"laughs.yaml: line 2: an alias \(\*a0\); write the values out"):
        load_suite(str(suite), None)
    assert time.perf_counter() - start < 1.0


def test_the_suite_check_says_what_a_strength_moves_and_what_stays(plugins):
    """AWD's composition: every part's probability is multiplied (the entry's own values), the loss weights
    stay; a regularizer without a probability says so."""
    from rnnreg.suite import RegularizerEntry, what_a_strength_moves

    awd = RegularizerEntry("weight-drop+variational+embedding+ar-tar",
                           {"p_input": 0.3, "p_recurrent": 0.0, "p_output": 0.4, "embedding.p": 0.1}, label="awd")
    line = what_a_strength_moves(awd, plugins.regularizers)
    assert line.startswith("awd: weight-drop.p 0.5, variational.p_input 0.3, variational.p_recurrent 0, "
                           "variational.p_output 0.4, embedding.p 0.1")
    assert line.endswith("; ar-tar.alpha, ar-tar.beta stay")
    assert what_a_strength_moves(RegularizerEntry("none", {}), plugins.regularizers) == \
        "none: nothing (no dropout probability)"
