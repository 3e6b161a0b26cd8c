"""The mask semantics of every built-in regularizer, as in docs/design.md §1 (sites × per step/sequence)."""

import pytest
import torch

from rnnreg.dropout import SiteRule
from rnnreg.masks import sample_mask, sample_type_mask
from rnnreg.model import sample_masks
from rnnreg.regularizer import build_regularizer

B, T, H = 6, 7, 64


def masks_of(plugins, spec, cell="lstm", **params):
    plan = build_regularizer(spec, params, plugins.regularizers).plan()
    tokens = torch.randint(0, 50, (B, T))
    return sample_masks(plan, tokens, vocab_size=50, cell=cell, input_size=H, hidden_size=H, num_layers=2), tokens


def full(mask):
    """(gates, batch, steps, units) with shared dimensions expanded."""
    return mask.expand(mask.shape[0], B, T, mask.shape[3])


def same_at_every_step(mask):
    m = full(mask)
    return all(torch.equal(m[:, :, 0], m[:, :, t]) for t in range(T))


def differs_across_steps(mask):
    m = full(mask)
    return all(not torch.equal(m[:, :, 0], m[:, :, t]) for t in range(1, T))


def differs_across_samples(mask):
    m = full(mask)
    return all(not torch.equal(m[:, 0], m[:, b]) for b in range(1, B))


# site → "step" | "sequence" | None, straight from the table in docs/design.md §1
TABLE = {
    "none": {"input": None, "recurrent": None, "cell": None, "output": None, "embedding": None},
    "naive": {"input": "step", "recurrent": "step", "cell": None, "output": "step", "embedding": None},
    "zaremba": {"input": "step", "recurrent": None, "cell": None, "output": "step", "embedding": None},
    "moon": {"input": "step", "recurrent": None, "cell": "sequence", "output": "step", "embedding": None},
    "variational": {"input": "sequence", "recurrent": "sequence", "cell": None, "output": "sequence", "embedding": None},
    "embedding": {"input": None, "recurrent": None, "cell": None, "output": None, "embedding": "sequence"},
}


@pytest.mark.parametrize("spec", sorted(TABLE))
def test_sites_and_timing_follow_the_table(plugins, spec):
    masks, _ = masks_of(plugins, spec)
    for site, timing in TABLE[spec].items():
        if site == "embedding":
            assert (masks.embedding is None) == (timing is None), site
            continue
        layer_masks = [masks.output] if site == "output" else getattr(masks, site)
        for mask in layer_masks:  # every layer
            if timing is None:
                assert mask is None, f"{spec} must not touch {site}"
                continue
            assert differs_across_samples(mask), f"{spec}/{site}: samples must get independent masks"
            if timing == "sequence":
                assert same_at_every_step(mask), f"{spec}/{site}: one mask for the whole sequence"
            else:
                assert differs_across_steps(mask), f"{spec}/{site}: a fresh mask at every step"


def test_variational_tied_uses_one_mask_for_all_gates(plugins):
    masks, _ = masks_of(plugins, "variational")
    assert masks.input[0].shape[0] == 1 and masks.recurrent[0].shape[0] == 1


@pytest.mark.parametrize("cell,gates", [("lstm", 4), ("gru", 3)])
def test_variational_untied_has_a_mask_per_gate(plugins, cell, gates):
    masks, _ = masks_of(plugins, "variational", cell=cell, untied=True)
    for mask in (masks.input[1], masks.recurrent[0]):
        assert mask.shape[0] == gates
        assert same_at_every_step(mask)
        assert not torch.equal(mask[0], mask[1])
    assert masks.output.shape[0] == 1  # the output has no gates


def test_batch_scope_shares_masks_across_the_minibatch(plugins):
    masks, _ = masks_of(plugins, "variational", mask_scope="batch")
    for mask in (masks.input[0], masks.recurrent[1], masks.output):
        m = full(mask)
        assert all(torch.equal(m[:, 0], m[:, b]) for b in range(B))
        assert same_at_every_step(mask)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_inverted_scaling_keeps_the_expectation(p):
    mask = sample_mask(SiteRule(p, per="step"), batch=200, steps=50, units=100)
    values = mask.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p))
    assert mask.mean().item() == pytest.approx(1.0, abs=0.02)
    assert (mask == 0).float().mean().item() == pytest.approx(p, abs=0.01)


def test_p_zero_keeps_everything():
    assert torch.all(sample_mask(SiteRule(0.0), batch=3, steps=1, units=5) == 1)


def test_word_types_are_dropped_consistently_within_a_sequence():
    # "the dog and the cat": both "the" share a fate in each sequence, and sequences differ
    tokens = torch.tensor([[0, 1, 2, 0, 3]] * 400)
    mask = sample_type_mask(SiteRule(0.5), tokens, vocab_size=4)[..., 0]
    assert torch.equal(mask[:, 0], mask[:, 3])
    assert not torch.equal(mask[:, 0], mask[:, 1])  # different types are independent
    assert 0.4 < (mask[:, 0] == 0).float().mean().item() < 0.6
    assert mask.mean().item() == pytest.approx(1.0, abs=0.1)


def test_composed_spec_merges_sites(plugins):
    masks, _ = masks_of(plugins, "variational+embedding")
    assert masks.embedding is not None and masks.recurrent[0] is not None
    masks, _ = masks_of(plugins, "moon+embedding")
    assert masks.embedding is not None and masks.cell[0] is not None
