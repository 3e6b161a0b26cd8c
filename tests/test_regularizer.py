"""Parameters are checked with one-line errors; composition with '+' rejects shared sites."""

import pytest

from rnnreg.errors import RnnregError
from rnnreg.regularizer import Composite, build_regularizer


def build(plugins, spec, **params):
    return build_regularizer(spec, params, plugins.regularizers)


def test_defaults_are_the_papers(plugins):
    v = build(plugins, "variational")
    assert (v.p_input, v.p_recurrent, v.p_output, v.untied, v.mask_scope) == (0.5, 0.3, 0.5, False, "sample")
    assert build(plugins, "embedding").p == 0.3


@pytest.mark.parametrize("params,message", [
    ({"p_input": 1.0}, "'p_input' must be in [0, 1), got 1.0"),
    ({"p_input": -0.1}, "'p_input' must be in [0, 1)"),
    ({"p_inpt": 0.1}, "unknown parameter 'p_inpt'"),
    ({"p_input": "high"}, "'p_input' must be a number, got 'high'"),
    ({"untied": "yes"}, "'untied' must be true or false"),
    ({"mask_scope": "global"}, "'mask_scope' must be one of sample, batch; got 'global'"),
])
def test_bad_parameters_are_one_line_errors(plugins, params, message):
    with pytest.raises(RnnregError) as err:
        build(plugins, "variational", **params)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_name_suggests_the_closest(plugins):
    with pytest.raises(RnnregError, match=r"unknown regularizer 'zarmba'; did you mean 'zaremba'\?"):
        build(plugins, "zarmba")


def test_composition_routes_parameters_and_rejects_overlaps(plugins):
    reg = build(plugins, "variational+embedding", p_recurrent=0.2, p=0.1)
    assert isinstance(reg, Composite) and reg.spec == "variational+embedding"
    assert reg.plan()["recurrent"].p == 0.2 and reg.plan()["embedding"].p == 0.1
    reg = build(plugins, "moon+embedding", **{"embedding.p": 0.4})
    assert reg.plan()["embedding"].p == 0.4
    with pytest.raises(RnnregError, match="both act on the input site"):
        build(plugins, "variational+zaremba")
    with pytest.raises(RnnregError, match="ambiguous"):
        build(plugins, "moon+variational", p_input=0.1)
    with pytest.raises(RnnregError, match="bad regularizer spec"):
        build(plugins, "variational+")
