"""Tasks on real text: PTB and WikiText-2 language modelling, Pang & Lee sentiment (scale and polarity).

Each reads its dataset from the data directory (`rnnreg data list` shows where) and fails fast with a
`rnnreg data fetch` hint when it is missing: a task never trains on nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the functions reading the data: loading plugins to read results needs none
    import torch
from rnnreg import data as datasets
from rnnreg.errors import RnnregError
from rnnreg.tasks.base import LMData, SequenceData, Task

# Zaremba et al. 2014, small: 2 × 200 units, BPTT 20, ±0.1 init, lr 1 halved each epoch after epoch 4,
# 13 epochs, clip 5, no dropout. The presets in benchmarks/suites/ change these for medium and large.
ZAREMBA_SMALL_MODEL = {"cell": "lstm", "hidden_size": 200, "embed_size": 200, "num_layers": 2, "init_scale": 0.1}
# decay_after 5: Zaremba's main.lua (max_epoch 4) runs epochs 1-5 at lr 1 and halves it from epoch 6 on.
ZAREMBA_SMALL_TRAIN = {"epochs": 13, "batch_size": 20, "bptt": 20, "lr": 1.0, "lr_decay": 2.0, "decay_after": 5,
                       "clip": 5.0, "weight_decay": 0.0, "weight_decay_mode": "coupled", "max_steps": 0}


def read_stream(path: Path, vocabulary: dict[str, int]) -> torch.Tensor:
    """Word ids of a file, `<eos>` after every line; words outside the vocabulary become `<unk>`."""
    import torch
    unk = vocabulary.get("<unk>")
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        for word in line.split() + ["<eos>"]:
            index = vocabulary.get(word, unk)
            if index is None:
                raise RnnregError(f"{path}: word {word!r} is not in the training vocabulary and there is no <unk>")
            ids.append(index)
    return torch.tensor(ids, dtype=torch.long)


class WordLanguageModel(Task):
    kind = "language-model"
    dataset = ""
    split_files: dict[str, str] = {}
    model = ZAREMBA_SMALL_MODEL
    train = ZAREMBA_SMALL_TRAIN

    def load(self, data_dir=None) -> LMData:
        folder = datasets.require(self.dataset, data_dir)
        vocabulary: dict[str, int] = {}
        for line in (folder / self.split_files["train"]).read_text(encoding="utf-8").splitlines():
            for word in line.split() + ["<eos>"]:
                vocabulary.setdefault(word, len(vocabulary))
        streams = {split: read_stream(folder / name, vocabulary) for split, name in self.split_files.items()}
        return LMData(streams["train"], streams["valid"], streams["test"], len(vocabulary))


class PennTreebank(WordLanguageModel):
    name = "ptb"
    description = "Word-level Penn Treebank (Mikolov's files, 10k vocabulary); perplexity. Defaults: Zaremba small."
    dataset = "ptb"
    split_files = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}
    # The published numbers (val / test perplexity; docs/design.md §2), shown beside ours on the leaderboard; each
    # name gives the model's size, so a 200-unit row is not read against a 1500-unit number unawares.
    published = {
        "Zaremba et al. 2014, small (2 × 200, 13 epochs, no dropout)":
            {"valid_perplexity": 120.7, "test_perplexity": 114.5},
        "Zaremba et al. 2014, medium (2 × 650, 39 epochs)": {"valid_perplexity": 86.2, "test_perplexity": 82.7},
        "Zaremba et al. 2014, large (2 × 1500, 55 epochs)": {"valid_perplexity": 82.2, "test_perplexity": 78.4},
        "Gal & Ghahramani 2016, medium (2 × 650), variational tied":
            {"valid_perplexity": 81.8, "test_perplexity": 79.7},
        "Gal & Ghahramani 2016, medium (2 × 650), variational untied":
            {"valid_perplexity": 81.9, "test_perplexity": 79.7},
        "Gal & Ghahramani 2016, large (2 × 1500), variational tied":
            {"valid_perplexity": 77.3, "test_perplexity": 75.0},
        "Gal & Ghahramani 2016, large (2 × 1500), variational untied":
            {"valid_perplexity": 77.9, "test_perplexity": 75.2},
        # The successor built from these pieces (weight-drop + locked + embedding dropout + AR/TAR), its Table 1
        # row without the continuous cache pointer. A different model class: 3 layers, tied weights, ASGD.
        "Merity et al. 2017, AWD-LSTM (3 × 1150, tied, 24M params, with finetuning)":
            {"valid_perplexity": 60.0, "test_perplexity": 57.3},
    }


class WikiText2(WordLanguageModel):
    name = "wikitext-2"
    description = "WikiText-2 v1 (33,278-word vocabulary); perplexity. Defaults: Zaremba small shape."
    dataset = "wikitext-2"
    split_files = {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"}


def vocabulary_from(texts: list[list[str]], size: int) -> dict[str, int]:
    """The `size` most frequent words get ids 2..; 0 is padding, 1 every other word."""
    counts = Counter(word for text in texts for word in text)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    return {word: i + 2 for i, (word, _) in enumerate(ranked)}


def left_padded(sequences: list[list[int]], length: int) -> torch.Tensor:
    import torch
    out = torch.zeros(len(sequences), length, dtype=torch.long)
    for row, seq in enumerate(sequences):
        seq = seq[-length:]
        if seq:
            out[row, length - len(seq):] = torch.tensor(seq)
    return out


def split_indices(n: int, fractions: tuple[float, float], seed: int) -> tuple[list[int], list[int], list[int]]:
    """Shuffle 0..n-1 with `seed`, then cut off (test, valid) fractions: returns (train, valid, test)."""
    import torch
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_test, n_valid = round(n * fractions[0]), round(n * fractions[1])
    return order[n_test + n_valid:], order[n_test:n_test + n_valid], order[:n_test]


class SentimentScale(Task):
    """Gal & Ghahramani's sentiment setup: regression on the 0–1 rating of Pang & Lee's scale dataset.

    Reviews are shuffled with seed 0 and split 80/20 by review (the paper's split); 10% of all reviews are
    then taken from the training part as a validation set, so model selection never sees the test
    reviews. Each review is cut into 200-token segments that keep its rating; 20k-word vocabulary.
    """

    name = "sentiment-scale"
    description = "Pang & Lee scale v1.0: rating regression (RMSE) on 200-token segments; Gal & Ghahramani's setup."
    kind = "regression"
    model = {"cell": "lstm", "hidden_size": 128, "embed_size": 128, "num_layers": 1, "init_scale": None}
    # Targets standardised on the training split, as in Gal's scripts; weight decay 2e-6 is their Keras
    # l2(1e-6), whose gradient is 2·1e-6·W, as torch's coupled form (which adds wd·W to the gradient).
    train = {"epochs": 20, "batch_size": 128, "lr": 0.001, "weight_decay": 2e-6, "weight_decay_mode": "coupled",
             "standardize_targets": True, "clip": 5.0}
    segment, vocabulary_size, seed = 200, 20_000, 0

    def load(self, data_dir=None) -> SequenceData:
        import torch
        folder = datasets.require("scaledata", data_dir) / "scaledata"
        reviews, ratings = [], []
        for critic in datasets.CRITICS:
            texts = (folder / critic / f"subj.{critic}").read_text(encoding="latin-1").splitlines()
            values = (folder / critic / f"rating.{critic}").read_text().split()
            if len(texts) != len(values):
                raise RnnregError(f"{folder / critic}: {len(texts)} reviews but {len(values)} ratings")
            reviews += [t.lower().split() for t in texts]
            ratings += [float(v) for v in values]
        train, valid, test = split_indices(len(reviews), (0.2, 0.1), self.seed)
        vocabulary = vocabulary_from([reviews[i] for i in train], self.vocabulary_size)

        def segments(indices):
            seqs, targets = [], []
            for i in indices:
                ids = [vocabulary.get(w, 1) for w in reviews[i]]
                for start in range(0, max(len(ids), 1), self.segment):
                    seqs.append(ids[start:start + self.segment])
                    targets.append(ratings[i])
            return left_padded(seqs, self.segment), torch.tensor(targets)

        return SequenceData(segments(train), segments(valid), segments(test), self.vocabulary_size + 2, num_outputs=1)


class SentimentPolarity(Task):
    name = "sentiment-polarity"
    description = ("Pang & Lee sentence polarity v1.0 (Windows-1252): classification error on a fixed 80/10/10 "
                   "split (seed 0).")
    kind = "classification"
    model = {"cell": "lstm", "hidden_size": 128, "embed_size": 128, "num_layers": 1, "init_scale": None}
    train = {"epochs": 10, "batch_size": 64, "lr": 0.001, "weight_decay": 1e-6, "weight_decay_mode": "coupled",
             "clip": 5.0}
    max_length, vocabulary_size, seed = 60, 20_000, 0

    def load(self, data_dir=None) -> SequenceData:
        import torch
        folder = datasets.require("rt-polarity", data_dir)
        sentences, labels = [], []
        for label, name in ((1, "rt-polarity.pos"), (0, "rt-polarity.neg")):
            lines = (folder / name).read_bytes().decode("cp1252", errors="replace").splitlines()
            sentences += [line.lower().split() for line in lines if line.strip()]
            labels += [label] * sum(1 for line in lines if line.strip())
        train, valid, test = split_indices(len(sentences), (0.1, 0.1), self.seed)
        vocabulary = vocabulary_from([sentences[i] for i in train], self.vocabulary_size)

        def encode(indices):
            seqs = [[vocabulary.get(w, 1) for w in sentences[i]] for i in indices]
            return left_padded(seqs, self.max_length), torch.tensor([labels[i] for i in indices])

        return SequenceData(encode(train), encode(valid), encode(test), self.vocabulary_size + 2, num_outputs=2)
