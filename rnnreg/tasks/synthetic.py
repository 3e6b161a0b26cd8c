"""Embedded tasks that need no download: data from a known hidden Markov process, made from a seed.

The process has language-like statistics: a sparse "syntax" chain over word classes, Zipfian emissions,
and a slowly drifting topic that changes which content words are likely. Because the process is known,
the forward algorithm gives the exact probability of any text under it, and so the floor no model can
beat: the oracle perplexity (language modelling) and the Bayes error (sentiment).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the functions building the data: loading plugins to read results needs none
    import torch
from rnnreg.tasks.base import LMData, SequenceData, Task


@dataclass
class HiddenMarkovSource:
    start: torch.Tensor  # (N,) float64
    transition: torch.Tensor  # (N, N), rows sum to 1
    emission: torch.Tensor  # (N, V), rows sum to 1

    def sample(self, length: int, generator: torch.Generator) -> list[int]:
        import torch
        cum_start = list(accumulate(self.start.tolist()))
        cum_trans = [list(accumulate(row)) for row in self.transition.tolist()]
        cum_emit = [list(accumulate(row)) for row in self.emission.tolist()]
        u = torch.rand(2 * length, generator=generator, dtype=torch.float64).tolist()

        def draw(cum, x):  # inverse-CDF draw, safe against rounding at the top end
            return min(bisect.bisect_right(cum, x * cum[-1]), len(cum) - 1)

        state, words = draw(cum_start, u[0]), []
        for t in range(length):
            if t:
                state = draw(cum_trans[state], u[2 * t])
            words.append(draw(cum_emit[state], u[2 * t + 1]))
        return words

    def log_likelihood(self, words: list[int]) -> float:
        """log p(words) by the forward algorithm (scaled, in float64)."""
        alpha, total = self.start, 0.0
        emit_t = self.emission.t().contiguous()
        for t, w in enumerate(words):
            if t:
                alpha = alpha @ self.transition
            alpha = alpha * emit_t[w]
            norm = alpha.sum()
            total += math.log(norm)
            alpha = alpha / norm
        return total


def zipf(n: int, exponent: float = 1.1) -> torch.Tensor:
    import torch
    weights = torch.tensor([1.0 / (rank + 1) ** exponent for rank in range(n)], dtype=torch.float64)
    return weights / weights.sum()


def sparse_chain(states: int, fanout: int, g: torch.Generator) -> torch.Tensor:
    """A transition matrix in which each state leads to `fanout` others, with Dirichlet(1) weights."""
    import torch
    chain = torch.zeros(states, states, dtype=torch.float64)
    for s in range(states):
        successors = torch.randperm(states, generator=g)[:fanout]
        weights = -torch.rand(fanout, generator=g, dtype=torch.float64).log()
        chain[s, successors] = weights / weights.sum()
    return chain


def topical_source(
    *, g: torch.Generator, function_states: int, content_states: int, topics: int, function_words: int,
    shared_words: int, topic_words: int, shared_mass: float, topic_stay: float, fanout: int,
) -> tuple[HiddenMarkovSource, int]:
    """A syntax chain × topic chain. Function states emit a small shared set; content states a shared set
    plus a set that depends on the current topic. Returns the source and its vocabulary size."""
    import torch
    syntax_states = function_states + content_states
    syntax = sparse_chain(syntax_states, fanout, g)
    vocab = function_states * function_words + content_states * (shared_words + topics * topic_words)
    emit = torch.zeros(syntax_states, topics, vocab, dtype=torch.float64)
    next_word = 0

    def take(n):
        nonlocal next_word
        ids = torch.arange(next_word, next_word + n)
        next_word += n
        return ids

    for s in range(function_states):
        emit[s, :, take(function_words)] = zipf(function_words)
    for s in range(function_states, syntax_states):
        emit[s, :, take(shared_words)] = shared_mass * zipf(shared_words)
        for k in range(topics):
            emit[s, k, take(topic_words)] = (1 - shared_mass) * zipf(topic_words)

    # Joint state (syntax s, topic k) → index s * topics + k; the topic drifts independently of syntax.
    topic_chain = torch.full((topics, topics), (1 - topic_stay) / max(topics - 1, 1), dtype=torch.float64)
    topic_chain.fill_diagonal_(topic_stay if topics > 1 else 1.0)
    transition = torch.kron(syntax, topic_chain)
    start = torch.full((syntax_states * topics,), 1.0 / (syntax_states * topics), dtype=torch.float64)
    return HiddenMarkovSource(start, transition, emit.reshape(syntax_states * topics, vocab)), vocab


class SyntheticLM(Task):
    name = "synthetic-lm"
    description = ("Language modelling on text from a known HMM (syntax chain, Zipfian words, drifting topic); "
                   "oracle perplexity by the forward algorithm.")
    version = "1"
    kind = "language-model"
    model = {"cell": "lstm", "hidden_size": 128, "embed_size": 128, "num_layers": 2, "init_scale": 0.1}
    train = {"epochs": 22, "batch_size": 20, "bptt": 20, "lr": 0.5, "lr_decay": 1.5, "decay_after": 14,
             "clip": 5.0, "weight_decay": 0.0, "weight_decay_mode": "coupled", "max_steps": 0}
    sizes = {"train": 16_000, "valid": 8_000, "test": 8_000}
    data_seed = 1234

    def source(self) -> tuple[HiddenMarkovSource, int]:
        import torch
        g = torch.Generator().manual_seed(self.data_seed)
        return topical_source(g=g, function_states=8, content_states=8, topics=4, function_words=5,
                              shared_words=10, topic_words=15, shared_mass=0.3, topic_stay=0.98, fanout=3)

    def load(self, data_dir=None) -> LMData:
        import torch
        source, vocab = self.source()
        g = torch.Generator().manual_seed(self.data_seed + 1)
        splits = {name: torch.tensor(source.sample(n, g)) for name, n in self.sizes.items()}
        return LMData(splits["train"], splits["valid"], splits["test"], vocab)

    def oracle(self, data: LMData | SequenceData):
        assert isinstance(data, LMData)
        source, _ = self.source()

        def perplexity(tokens):
            return math.exp(-source.log_likelihood(tokens.tolist()) / len(tokens))

        return {split: {"perplexity": perplexity(getattr(data, split))} for split in ("valid", "test")}


class SyntheticSentiment(Task):
    name = "synthetic-sentiment"
    description = ("Binary sentiment of sequences from two class-conditional HMMs that differ only in opinion "
                   "words; Bayes error by the forward algorithm.")
    version = "1"
    kind = "classification"
    model = {"cell": "lstm", "hidden_size": 64, "embed_size": 64, "num_layers": 1, "init_scale": None}
    train = {"epochs": 20, "batch_size": 32, "lr": 0.003, "weight_decay": 0.0, "weight_decay_mode": "coupled",
             "clip": 5.0}
    sizes = {"train": 2_000, "valid": 600, "test": 600}
    length = 30
    data_seed = 4321
    positive_rate = (0.25, 0.75)  # chance an opinion word is positive, given class 0 / class 1

    def sources(self) -> tuple[list[HiddenMarkovSource], int]:
        import torch
        g = torch.Generator().manual_seed(self.data_seed)
        base, vocab = topical_source(g=g, function_states=6, content_states=6, topics=2, function_words=5,
                                     shared_words=8, topic_words=15, shared_mass=0.4, topic_stay=0.95,
                                     fanout=3)
        # Two extra word classes: opinion words, positive ones first, then negative ones. The chain visits
        # the opinion state from every state with small probability; only its emissions depend on the class.
        opinion_words, n = 12, base.transition.shape[0]
        sources = []
        for rate in self.positive_rate:
            transition = torch.zeros(n + 1, n + 1, dtype=torch.float64)
            transition[:n, :n] = 0.9 * base.transition
            transition[:n, n] = 0.1
            transition[n, :n] = base.start
            emission = torch.zeros(n + 1, vocab + 2 * opinion_words, dtype=torch.float64)
            emission[:n, :vocab] = base.emission
            emission[n, vocab:vocab + opinion_words] = rate * zipf(opinion_words)
            emission[n, vocab + opinion_words:] = (1 - rate) * zipf(opinion_words)
            start = torch.cat([base.start, torch.zeros(1, dtype=torch.float64)])
            sources.append(HiddenMarkovSource(start, transition, emission))
        return sources, vocab + 2 * opinion_words

    def load(self, data_dir=None) -> SequenceData:
        import torch
        sources, vocab = self.sources()
        g = torch.Generator().manual_seed(self.data_seed + 1)
        splits = {}
        for name, n in self.sizes.items():
            labels = torch.randint(0, 2, (n,), generator=g)
            seqs = [sources[y].sample(self.length, g) for y in labels.tolist()]
            splits[name] = (torch.tensor(seqs) + 1, labels)  # id 0 is padding
        return SequenceData(splits["train"], splits["valid"], splits["test"], vocab + 1, num_outputs=2)

    def oracle(self, data: LMData | SequenceData):
        assert isinstance(data, SequenceData)
        sources, _ = self.sources()
        out = {}
        for split in ("valid", "test"):
            tokens, labels = getattr(data, split)
            expected_errors = 0.0
            for seq in (tokens - 1).tolist():
                ll = [s.log_likelihood(seq) for s in sources]
                p1 = 1.0 / (1.0 + math.exp(ll[0] - ll[1]))
                expected_errors += min(p1, 1 - p1)  # the Bayes classifier errs with the smaller posterior
            out[split] = {"error": expected_errors / len(labels)}
        return out
