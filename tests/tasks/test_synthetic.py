"""The embedded tasks: deterministic data, and floors computed exactly from the known process."""

import itertools
import math

import torch

from rnnreg.tasks.synthetic import HiddenMarkovSource, SyntheticLM, SyntheticSentiment


def tiny_source():
    return HiddenMarkovSource(
        start=torch.tensor([0.6, 0.4], dtype=torch.float64),
        transition=torch.tensor([[0.7, 0.3], [0.2, 0.8]], dtype=torch.float64),
        emission=torch.tensor([[0.5, 0.4, 0.1], [0.1, 0.3, 0.6]], dtype=torch.float64),
    )


def test_forward_algorithm_equals_brute_force():
    source = tiny_source()
    words = [0, 2, 1, 2]
    total = 0.0
    for states in itertools.product(range(2), repeat=len(words)):
        p = source.start[states[0]] * source.emission[states[0], words[0]]
        for prev, cur, w in zip(states, states[1:], words[1:], strict=False):
            p = p * source.transition[prev, cur] * source.emission[cur, w]
        total += p.item()
    assert source.log_likelihood(words) == math.log(total) or abs(source.log_likelihood(words) - math.log(total)) < 1e-12


def test_sampling_follows_the_process():
    source = tiny_source()
    words = source.sample(20_000, torch.Generator().manual_seed(0))
    # stationary distribution of the chain is (0.4, 0.6): word 2 has probability 0.4*0.1 + 0.6*0.6
    assert abs(words.count(2) / len(words) - 0.40) < 0.02


def test_synthetic_lm_is_deterministic_and_oracle_beats_unigram():
    a, b = SyntheticLM().load(), SyntheticLM().load()
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    oracle = SyntheticLM().oracle(a)["test"]["perplexity"]
    counts = torch.bincount(a.train, minlength=a.vocab_size).double() + 0.5
    unigram = math.exp(-(counts / counts.sum()).log()[a.test].mean().item())
    assert 1 < oracle < unigram / 4


def test_synthetic_sentiment_bayes_error_is_between_zero_and_chance():
    task = SyntheticSentiment()
    data = task.load()
    assert data.train[0].shape == (task.sizes["train"], task.length) and data.train[0].min() >= 1
    error = task.oracle(data)["test"]["error"]
    assert 0.05 < error < 0.4
