"""Which results a suite's claims are about: the user's choices decide, not the torch build, device or
numerics release that wrote or reads them (the committed results, read as other readers would)."""

import copy
from pathlib import Path

import pytest

from rnnreg.claims import evaluate_all
from rnnreg.claimscope import suites_with_claims
from rnnreg.identity import chosen, config_hash
from rnnreg.results import read_results

COMMITTED = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def statuses(results, plugins):
    return [(row["claim"], row["status"], row["n"]) for row in evaluate_all(results, suites_with_claims(results, plugins))]


def written_elsewhere(result, *, device, torch, numerics=None):
    """The same result as another machine would have written it: same choices, another environment."""
    moved = copy.deepcopy(result)
    moved["config"]["device"] = device
    moved["config"]["versions"]["torch"] = torch
    if numerics:
        moved["config"]["versions"]["rnnreg"] = numerics
    moved["config_hash"] = config_hash(moved["config"])
    return moved


@pytest.fixture(scope="module")
def committed():
    results, _ = read_results(COMMITTED)
    return results


def test_the_committed_claims_read_the_same_with_another_torch(committed, plugins, monkeypatch):
    before = statuses(committed, plugins)
    assert {status for _, status, _ in before} == {"holds", "contradicted", "inconclusive"}
    monkeypatch.setattr("rnnreg.jobs.torch_version", lambda: "2.14.1+cu128")
    assert statuses(committed, plugins) == before


def test_results_written_on_a_gpu_with_another_build_count_toward_the_same_claims(committed, plugins):
    before = statuses(committed, plugins)
    moved = [written_elsewhere(r, device="cuda", torch="2.14.1+cu128", numerics="0.9.0") for r in committed]
    assert statuses(moved, plugins) == before


def test_chosen_keeps_what_the_user_chose_and_drops_the_environment():
    config = {"task": {"name": "ptb"}, "seed": 3, "device": "cuda", "versions": {"rnnreg": "0.4.0", "torch": "2.13.0"},
              "regularizer": {"label": "zaremba", "versions": {"zaremba": "1"}}}
    assert chosen(config) == {"task": {"name": "ptb"}, "seed": 3,
                              "regularizer": {"label": "zaremba", "versions": {"zaremba": "1"}}}
