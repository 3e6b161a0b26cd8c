"""The metric vocabulary: how a result spells a number's name and how the reading side asks for it."""

import pytest

from rnnreg.metrics import MetricName, Result, metric_name


@pytest.mark.parametrize("name, parts", [
    ("valid_perplexity", ("valid", "perplexity", False)),
    ("test_error_mc", ("test", "error", True)),
    ("train_rmse", ("train", "rmse", False)),
])
def test_a_metric_name_reads_back_into_its_parts_and_is_written_the_same_way(name, parts):
    parsed = MetricName.parse(name)
    assert (parsed.split, parsed.metric, parsed.mc) == parts
    assert str(parsed) == metric_name(parts[1], parts[0], parts[2]) == name
    assert parsed.higher_is_better is False


def result(status="ok", **metrics):
    return {"status": status, "task": {"name": "t", "kind": "classification"},
            "metrics": {k: {"value": v} for k, v in metrics.items()},
            "curves": [{"epoch": 1, "valid_error": 0.4}, {"epoch": 2, "valid_error": 0.3, "test_error": 0.35}]}


def test_the_result_view_reads_the_primary_metric_of_the_tasks_kind():
    view = Result(result(valid_error=0.3, test_error_mc=0.31))
    assert view.primary == "error" and view.name("test", mc=True) == "test_error_mc"
    assert view.value() == 0.3 and view.value("test", mc=True) == 0.31 and view.value("train") is None
    assert view.curve() == [0.4, 0.3] and view.curve("test") == [0.35]
    assert view.has_mc and not Result(result(valid_error=0.3)).has_mc


def test_a_failed_result_has_no_value_even_where_it_recorded_one():
    assert Result(result("failed", valid_error=0.3)).value() is None
