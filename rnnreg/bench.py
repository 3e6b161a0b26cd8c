"""`rnnreg bench`: training and evaluation speed of every regularizer, beside two reference points.

The model is the PTB language model (embedding → 2-layer LSTM or GRU → softmax over 10,000 words, batch
20) at the small (H 200, T 20) or medium (H 650, T 35) shape. In the same run it measures
    fused-reference  torch.nn.LSTM / nn.GRU (one fused module) with Zaremba-style dropout, the speed to match;
    the GEMM limit   the machine's measured matrix-multiply throughput divided by the model's FLOPs per
                     training token: what the hardware would allow if nothing but GEMMs ran.
Repeats are interleaved across rows (row A, row B, …, then again), so slow drift of the machine hits
every row alike; each row reports the median over repeats after warm-up, and its ratio to the fused
reference is the median of the per-repeat ratios.

Peak memory: on CUDA the allocator's peak; on CPU, where no allocator keeps one, the bytes of the
parameters, their gradients and every tensor autograd saves for the backward pass (counted once per
storage), which is what a training step holds at its peak.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from rnnreg.allocator import keep_freed_memory
from rnnreg.allocator import state as allocator_state
from rnnreg.dropout import plan_fits
from rnnreg.fastloop import StepGEMM
from rnnreg.machine import git_commit
from rnnreg.model import GATES, RNNModel, detach_state
from rnnreg.regularizer import build_regularizer
from rnnreg.suite import RegularizerEntry
from rnnreg.trainer import forward_with_penalty, make_optimizer

SHAPES = {"small": {"hidden": 200, "steps": 20}, "medium": {"hidden": 650, "steps": 35}}
VOCAB, BATCH, LAYERS = 10_000, 20, 2
PTB_TRAIN_TOKENS = 929_589
# AWD-LSTM as the quick suite runs it (benchmarks/suites/quick.yaml): what it costs is what matters here.
AWD_PARAMS = {"p_input": 0.3, "p_recurrent": 0.0, "p_output": 0.4, "embedding.p": 0.1}


def bench_entries(plugins) -> list[RegularizerEntry]:
    """Every registered regularizer with its defaults, plus the variants that run different code."""
    entries = [RegularizerEntry(name) for name in plugins.regularizers.names()]
    entries += [RegularizerEntry("variational", {"untied": True}),
                RegularizerEntry("variational", {"mask_scope": "batch"}),
                RegularizerEntry("variational+embedding"),
                RegularizerEntry("weight-drop+variational+embedding+ar-tar", AWD_PARAMS, label="awd")]
    return entries


class FusedReference(nn.Module):
    """What a PyTorch user writes for Zaremba et al.: one nn.LSTM (or nn.GRU) with dropout between layers."""

    def __init__(self, hidden: int, p: float = 0.5, cell: str = "lstm"):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, hidden)
        self.drop = nn.Dropout(p)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(hidden, hidden, LAYERS, dropout=p, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, tokens, state=None):
        out, state = self.rnn(self.drop(self.embedding(tokens)), state)
        return self.head(self.drop(out)), state


def flops_per_training_token(hidden: int, cell: str = "lstm") -> float:
    """2 FLOPs per multiply-add; the backward pass costs two forwards."""
    gates = len(GATES[cell])
    recurrent = LAYERS * 2 * (hidden * gates * hidden + hidden * gates * hidden)
    softmax = 2 * hidden * VOCAB
    return 3 * (recurrent + softmax)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def gemm_flops_per_s(hidden: int, steps: int, device: str, repeats: int) -> tuple[float, str]:
    """The best median throughput of the model's biggest GEMM, (T·B × H) · (H × V), the decoder's,
    over the kernels torch offers here: torch.mm (MKL on CPU) and a packed oneDNN weight, which on
    this project's 2-core AMD machine reaches ~215 GFLOP/s against torch.mm's ~135–180. A limit is the
    fastest the hardware goes, so it takes the best of them."""
    a = torch.randn(steps * BATCH, hidden, device=device)
    weight = torch.randn(VOCAB, hidden, device=device)
    kernels = {"torch.mm": lambda: a @ weight.t()}
    packed = StepGEMM(weight, a.shape[0], onednn=True)  # whatever RNNREG_ONEDNN says: the limit is the hardware's
    if packed.packed is not None:
        kernels["oneDNN packed"] = lambda: packed(a)
    best = (0.0, "")
    for name, gemm in kernels.items():
        for _ in range(3):
            gemm()
        rates = []
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            for _ in range(10):
                gemm()
            sync(device)
            rates.append(10 * 2 * a.shape[0] * hidden * VOCAB / (time.perf_counter() - start))
        best = max(best, (statistics.median(rates), name))
    return best


def paired_ratio(rates, reference_rates) -> float:
    """Median over repeats of rate / reference rate, each pair measured back to back in one repeat:
    a slow spell of the machine then moves both sides of a ratio, not just one median."""
    return statistics.median(r / ref for r, ref in zip(rates, reference_rates, strict=True))


@dataclass
class Row:
    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    state: object = None
    train: list = field(default_factory=list)
    eval: list = field(default_factory=list)
    regularizer: object = None  # its penalty (AR/TAR) is part of what a training step costs


def make_row(name: str, model: nn.Module, regularizer=None) -> Row:
    if isinstance(model, RNNModel):  # as training builds it: learned rates, where any, get their own optimizer
        return Row(name, model, make_optimizer("language-model", model, {"lr": 0.1}), regularizer=regularizer)
    return Row(name, model, torch.optim.SGD(model.parameters(), lr=0.1), regularizer=regularizer)


def train_step(row: Row, tokens, targets):
    model = row.model
    model.train()
    penalty = None
    if isinstance(model, RNNModel):
        logits, state, penalty = forward_with_penalty(model, tokens, row.state, row.regularizer)
    else:
        logits, state = model(tokens, row.state)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
    if penalty is not None:
        loss = loss + penalty
    row.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.weights() if isinstance(model, RNNModel) else model.parameters(), 5.0)
    row.optimizer.step()
    row.state = detach_state(state)


@torch.no_grad()
def eval_step(row: Row, tokens):
    row.model.eval()
    row.model(tokens)


def training_bytes(row: Row, tokens, targets) -> int:
    """Parameters + gradients + tensors saved for backward during one training step (CPU estimate)."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        train_step(row, tokens, targets)
    params = sum(p.numel() * p.element_size() for p in row.model.parameters())
    return 2 * params + sum(seen.values())


def run_bench(plugins, *, shape: str, device: str, repeats: int, cell: str = "lstm", steps_per_repeat: int = 5,
              warmup: int = 2, progress=lambda message: None) -> dict:
    hidden, steps = SHAPES[shape]["hidden"], SHAPES[shape]["steps"]
    keep_freed_memory()  # as training does: the rows are timed as `rnnreg run` trains them
    torch.manual_seed(0)
    tokens = torch.randint(0, VOCAB, (BATCH, steps), device=device)
    targets = torch.randint(0, VOCAB, (BATCH, steps), device=device)

    rows = [make_row("fused-reference", FusedReference(hidden, cell=cell).to(device))]
    for entry in bench_entries(plugins):
        reg = build_regularizer(entry.spec, entry.params, plugins.regularizers)
        if not plan_fits(reg.plan(), cell):
            continue  # acts on the LSTM's cell state (Moon's), which a GRU does not have
        model = RNNModel(VOCAB, hidden, LAYERS, VOCAB, cell=cell, plan=reg.plan()).to(device)
        model.training_examples = PTB_TRAIN_TOKENS  # what a learned rate's KL term would divide by on PTB
        rows.append(make_row(entry.label, model, reg))

    memory = {}
    for row in rows:
        progress(f"warm-up {row.name}")
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        for _ in range(warmup):
            train_step(row, tokens, targets)
            eval_step(row, tokens)
        if device.startswith("cuda"):
            memory[row.name] = torch.cuda.max_memory_allocated()
        else:
            memory[row.name] = training_bytes(row, tokens, targets)

    for repeat in range(repeats):
        progress(f"repeat {repeat + 1}/{repeats}")
        for row in rows:
            for timings, step in ((row.train, partial(train_step, row, tokens, targets)),
                                  (row.eval, partial(eval_step, row, tokens))):
                sync(device)
                start = time.perf_counter()
                for _ in range(steps_per_repeat):
                    step()
                sync(device)
                timings.append(steps_per_repeat * BATCH * steps / (time.perf_counter() - start))

    gemm, gemm_kernel = gemm_flops_per_s(hidden, steps, device, repeats)
    limit = gemm / flops_per_training_token(hidden, cell)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"cpu ({torch.get_num_threads()} threads)"
    return {
        "device": name,
        "shape": shape, "cell": cell,
        "torch": torch.__version__, "git_commit": git_commit(),
        "hidden": hidden, "steps": steps, "batch": BATCH, "vocab": VOCAB, "layers": LAYERS,
        "repeats": repeats, "steps_per_repeat": steps_per_repeat, "malloc": allocator_state(),
        "gemm_flops_per_s": gemm, "gemm_kernel": gemm_kernel,
        "gemm_limit_tokens_per_s": limit,
        "rows": [
            {"name": row.name,
             "train_tokens_per_s": statistics.median(row.train),
             "train_tokens_per_s_min": min(row.train), "train_tokens_per_s_max": max(row.train),
             "eval_tokens_per_s": statistics.median(row.eval),
             "ratio_to_fused": paired_ratio(row.train, rows[0].train),
             "ratio_to_limit": statistics.median(row.train) / limit,
             "peak_mem_bytes": int(memory[row.name])}
            for row in rows
        ],
    }
