"""Training and evaluation: one epoch loop (`fit`) and, per task kind, how an epoch trains and a split is scored.

Language models follow Zaremba et al. (2014): truncated BPTT with the hidden state carried across
batches, the loss summed over the steps of a window and averaged over the batch, SGD whose learning rate
is constant for the first `decay_after` epochs and then divided by `lr_decay` each epoch (epoch e runs at
lr / lr_decay^max(0, e − decay_after)), gradient-norm clipping, uniform initialisation. Zaremba's and Gal's
`main.lua` divide the rate at the end of every epoch e > max_epoch, so their first decayed epoch is
max_epoch + 2: their max_epoch 4 is our decay_after 5.

Weight decay is the prior's L2 term, in one of two forms (`weight_decay_mode`):
    coupled    — added to the gradient, p ← p − lr·(g + wd·p) (torch's SGD and Adam `weight_decay`);
    decoupled  — after the clipped step, p ← (1 − wd)·p, whatever the learning rate (Gal's `bp()`).
Sequence tasks (classification, regression) use Adam; a regression target is standardised on the training
split's mean and std (`standardize_targets`, as Gal's scripts do) and its RMSE reported in its own units.
Masks are sampled once per forward pass: per sequence means per BPTT window for language models.
A regularizer's penalty (AR/TAR) is added to the training loss on the scale of a per-token mean, so a
language model's summed-over-steps loss adds it times the window's length; the epoch's mean penalty is
kept in the curves (`train_penalty`).

With `curve_test`, every epoch's curve also holds the test split's metric, as Gal's sentiment scripts
report it (the test number at the end is the same computation; model selection still uses validation).

Evaluation is deterministic (masks off, the standard dropout approximation) and, when `mc_samples` > 0,
MC dropout: N stochastic passes averaging predicted *probabilities*. A language model's pass draws its
masks once and keeps them for the whole evaluation stream, as Gal's `run_MC_test` does. Only one number
per target token is kept across passes, so N passes over PTB's test set need no N copies of the logits.
Embedding dropout is off during MC passes unless `mc_embedding` is set, as in Gal's code; a regularizer
with no site left to sample then has no MC metric (it would repeat the deterministic one).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnreg.checkpoint import Checkpoint, EpochState
from rnnreg.dropout import site_rules
from rnnreg.errors import Diverged
from rnnreg.learned import WithRates
from rnnreg.metrics import metric_name
from rnnreg.model import RNNModel, detach_state
from rnnreg.regularizer import total_penalty
from rnnreg.tasks.base import LMData, SequenceData

Progress = Callable[[dict], None]


def build_model(task, data, model_cfg: dict, plan: dict) -> RNNModel:
    outputs = data.vocab_size if task.kind == "language-model" else data.num_outputs
    return RNNModel(
        data.vocab_size, model_cfg["hidden_size"], model_cfg["num_layers"], outputs,
        cell=model_cfg.get("cell", "lstm"), embed_size=model_cfg.get("embed_size"),
        readout="all" if task.kind == "language-model" else "last",
        init_scale=model_cfg.get("init_scale"), plan=plan,
    )


def safe_exp(x: float) -> float:
    """exp for perplexities: a model bad enough to overflow a float has infinite perplexity."""
    return math.exp(x) if x < 709 else math.inf


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def check_finite(loss: torch.Tensor, epoch: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise Diverged(f"loss became {loss.item()} at epoch {epoch}, step {step}")


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@dataclass(frozen=True)
class Trained:
    """What one training epoch reports: its mean task loss, the tokens it trained on, its mean penalty."""

    loss: float
    tokens: int
    penalty: float | None


# --- language modelling ---------------------------------------------------------------------------


def batchify(stream: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """Cut a token stream into `batch_size` parallel streams: (batch, steps)."""
    steps = len(stream) // batch_size
    return stream[: steps * batch_size].view(batch_size, steps).to(device)


def windows(streams: torch.Tensor, bptt: int):
    for start in range(0, streams.shape[1] - 1, bptt):
        end = min(start + bptt, streams.shape[1] - 1)
        yield start, streams[:, start:end], streams[:, start + 1 : end + 1]


def lm_learning_rate(cfg: dict, epoch: int) -> float:
    return cfg["lr"] / cfg["lr_decay"] ** max(0, epoch - cfg["decay_after"])


def mc_skip(mc_embedding: bool) -> tuple[str, ...]:
    """The sites MC passes leave unsampled: the embedding, unless asked for (as in Gal's code)."""
    return () if mc_embedding else ("embedding",)


def mc_splits(eval_cfg: dict) -> list[str]:
    """The splits that get MC passes: `evaluation.mc_splits`, by default valid and test (valid first)."""
    chosen = eval_cfg.get("mc_splits", ("valid", "test"))
    return [name for name in ("valid", "test") if name in chosen]


def mc_progress(progress: Progress, split: str, passes: int) -> Callable[[float], None]:
    """Tells the job's progress how far the MC passes over `split` have got (they can take as long as
    training: a display that only counted epochs would sit at "ETA 0:00" meanwhile)."""
    return lambda fraction: progress({"mc_split": split, "mc_passes": passes, "fraction": fraction})


def has_mc_sites(plan: dict, eval_cfg: dict) -> bool:
    """Whether MC evaluation samples anything: some site with p > 0 that MC does not switch off."""
    skipped = mc_skip(eval_cfg.get("mc_embedding", False))
    return any(rule.p > 0 for site, rule in site_rules(plan) if site not in skipped)


def make_optimizer(kind: str, model, cfg: dict):
    """SGD (language models) or Adam; weight decay inside the optimizer only in the coupled form. Learned
    dropout rates, where the plan has them, get an Adam of their own beside it (rnnreg.learned.WithRates)."""
    coupled = cfg.get("weight_decay", 0.0) if cfg.get("weight_decay_mode", "coupled") == "coupled" else 0.0
    optimizer: torch.optim.Optimizer
    if kind == "language-model":
        optimizer = torch.optim.SGD(model.weights(), lr=cfg["lr"], weight_decay=coupled)
    else:
        optimizer = torch.optim.Adam(model.weights(), lr=cfg["lr"], weight_decay=coupled)
    rates = list(model.rates.parameters())
    return WithRates(optimizer, rates) if rates else optimizer


@torch.no_grad()
def decay_weights(model, cfg: dict) -> None:
    """The decoupled form: every weight shrinks by (1 − wd) after each step, as in Gal's `bp()`."""
    wd = cfg.get("weight_decay", 0.0)
    if wd and cfg.get("weight_decay_mode", "coupled") == "decoupled":
        for param in model.weights():
            param.mul_(1.0 - wd)


def step_on(model, optimizer, loss: torch.Tensor, cfg: dict, epoch: int, step: int, clip: float) -> None:
    """One optimizer step on `loss`: refused when it is not finite, the gradient's norm clipped to `clip`,
    then decoupled weight decay where asked for."""
    check_finite(loss, epoch, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.weights(), clip)
    optimizer.step()
    decay_weights(model, cfg)


def forward_with_penalty(model, x, state, regularizer):
    """A training forward pass: (outputs, state, penalty or None). Activations are kept only when some
    part of the regularizer has a penalty."""
    if regularizer is None or not regularizer.penalties():
        return *model(x, state, model.sample_masks(x)), None
    activations: dict = {}
    out, state = model(x, state, model.sample_masks(x), activations=activations)
    return out, state, total_penalty(regularizer, activations)


def lm_train_epoch(model, streams, cfg, optimizer, epoch, regularizer=None) -> tuple[float, int, float | None]:
    model.train()
    state, total, tokens, penalty_sum, windows_done = None, 0.0, 0, 0.0, 0
    max_steps = cfg.get("max_steps", 0)  # a smoke test's budget; 0 = the whole epoch
    for step, (_, x, y) in enumerate(windows(streams, cfg["bptt"])):
        if max_steps and step >= max_steps:
            break
        logits, state, penalty = forward_with_penalty(model, x, state, regularizer)
        # As in Zaremba et al.'s code: summed over the BPTT steps, averaged over the batch. This sets
        # the scale of the gradient, so lr 1 and clip 5 mean what they meant there.
        task_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum") / y.shape[0]
        step_on(model, optimizer, task_loss if penalty is None else task_loss + penalty * y.shape[1], cfg, epoch,
                step, cfg["clip"])
        state = detach_state(state)
        total += task_loss.item() * y.shape[0]
        tokens += y.numel()
        if penalty is not None:
            penalty_sum, windows_done = penalty_sum + penalty.item(), windows_done + 1
    return total / tokens, tokens, (penalty_sum / windows_done if windows_done else None)


@torch.no_grad()
def lm_perplexity(model, streams, bptt, mc_samples=0, mc_embedding=False, progress=None) -> float:
    """Deterministic perplexity, or with mc_samples > 0 the perplexity of the MC-averaged probabilities
    (`progress(fraction)` is told how far the passes have got)."""
    model.eval()
    if mc_samples == 0:
        state, nll = None, 0.0
        for _, x, y in windows(streams, bptt):
            logits, state = model(x, state)
            nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        return safe_exp(nll / (streams.shape[0] * (streams.shape[1] - 1)))
    batch = streams.shape[0]
    prob_sum = torch.zeros(batch, streams.shape[1] - 1, device=streams.device, dtype=torch.float64)
    skip = mc_skip(mc_embedding)
    per_call = passes_per_call(model.plan, skip, mc_samples, batch, bptt * model.head.out_features)
    done, steps = 0, streams.shape[1] - 1
    while done < mc_samples:
        k = min(per_call, mc_samples - done)
        state, masks = None, None
        for start, x, y in windows(streams.repeat(k, 1), bptt):  # row j·B + b: pass j's copy of stream b
            # One draw per pass, kept for the whole stream: the pass is one sample of the weights.
            masks = model.sample_masks(x, skip=skip) if masks is None else masks.for_window(x)
            logits, state = model(x, state, masks)
            target_prob = logits.softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
            prob_sum[:, start : start + y.shape[1]] += target_prob.view(k, batch, -1).sum(0).double()
            if progress:
                progress((done + k * (start + y.shape[1]) / steps) / mc_samples)
        done += k
    return safe_exp(-(prob_sum / mc_samples).log().mean().item())


# MC passes run side by side as copies of the batch: with per-sample masks, rows are independent draws,
# so k passes of B sequences are one pass of k·B — bigger GEMMs, fewer steps of the per-step loop.
MC_MAX_ROWS = 1024  # rows per forward call
MC_MAX_LOGITS = 2**25  # floats of logits per call (128 MiB)


def passes_per_call(plan: dict, skip: tuple, mc_samples: int, batch: int, logits_per_row: int) -> int:
    """How many MC passes one forward call can hold. A mask shared by the batch (`scope: batch`) would be
    shared by the passes too, so such a plan runs its passes one at a time."""
    if any(rule.scope == "batch" for site, rule in site_rules(plan) if site not in skip):
        return 1
    return max(1, min(mc_samples, MC_MAX_ROWS // batch, MC_MAX_LOGITS // max(1, batch * logits_per_row)))


class LanguageModelling:
    """A language-model task as the epoch loop sees it: SGD on BPTT windows with the learning-rate schedule,
    perplexity per split (a split's streams cut for evaluation once)."""

    kind, metric = "language-model", "perplexity"
    order_rng = None  # the data order is fixed: nothing beyond torch's generator to checkpoint

    def __init__(self, model: RNNModel, data: LMData, cfg: dict, eval_cfg: dict, device):
        self.model, self.data, self.cfg, self.eval_cfg, self.device = model, data, cfg, eval_cfg, device
        self.train_streams = batchify(data.train, cfg["batch_size"], device)
        model.training_examples = data.train.numel()  # tokens: the loss is a per-token mean
        self.eval_batch = eval_cfg.get("batch_size", 10)
        self.streams = {"valid": batchify(data.valid, self.eval_batch, device),
                        "test": batchify(data.test, self.eval_batch, device)}

    def learning_rate(self, epoch: int) -> float:
        return lm_learning_rate(self.cfg, epoch)

    def train_epoch(self, optimizer, epoch: int, regularizer) -> Trained:
        return Trained(*lm_train_epoch(self.model, self.train_streams, self.cfg, optimizer, epoch, regularizer))

    def loss_in_curve(self, loss: float) -> dict:
        return {"train_perplexity_dropout": safe_exp(loss)}

    def split_tokens(self, split: str) -> int:
        return self.streams[split].numel()

    def evaluate(self, split: str, mc_samples: int = 0, on_pass=None) -> float:
        if split == "train" and split not in self.streams:  # cut for evaluation only when asked for
            self.streams["train"] = batchify(self.data.train, self.eval_batch, self.device)
        return lm_perplexity(self.model, self.streams[split], self.cfg["bptt"], mc_samples,
                             self.eval_cfg.get("mc_embedding", False), on_pass)


# --- sequence classification and regression -------------------------------------------------------


def sequence_loss(kind, out, y):
    return F.cross_entropy(out, y) if kind == "classification" else F.mse_loss(out[:, 0], y)


@torch.no_grad()
def sequence_metric(model, kind, tokens, targets, batch_size, mc_samples=0, mc_embedding=False,
                    target_scale=(0.0, 1.0), progress=None) -> float:
    """Error rate or RMSE; with mc_samples > 0 the metric of the MC-averaged probabilities/predictions.

    A regression model predicts standardised targets; `target_scale` (mean, std) maps its predictions back
    to the targets' own units before the RMSE."""
    model.eval()
    passes = max(mc_samples, 1)
    skip = mc_skip(mc_embedding)
    sum_of_predictions = []
    for start in range(0, len(tokens), batch_size):
        x = tokens[start : start + batch_size]
        total, done = 0, 0
        per_call = passes_per_call(model.plan, skip, passes, len(x), 1) if mc_samples else 1
        while done < passes:
            k = min(per_call, passes - done)
            tiled = x.repeat(k, 1)  # row j·b + i: pass j's copy of sequence i
            out, _ = model(tiled, None, model.sample_masks(tiled, skip=skip) if mc_samples else None)
            out = out.softmax(-1) if kind == "classification" else out[:, 0]
            total = total + out.view(k, len(x), *out.shape[1:]).sum(0)
            done += k
        sum_of_predictions.append(total / passes)
        if progress:
            progress(min(start + batch_size, len(tokens)) / len(tokens))
    predictions = torch.cat(sum_of_predictions)
    if kind == "classification":
        return (predictions.argmax(-1) != targets).float().mean().item()
    mean, std = target_scale
    return (predictions * std + mean - targets).pow(2).mean().sqrt().item()


def target_standardization(kind: str, train_targets: torch.Tensor, cfg: dict) -> tuple[float, float]:
    """(mean, std) of the training split's regression targets, or (0, 1) when targets stay as they are."""
    if kind != "regression" or not cfg.get("standardize_targets", False):
        return 0.0, 1.0
    return train_targets.mean().item(), train_targets.std().item()


def sequence_train_epoch(model, kind, tokens, targets, cfg, optimizer, epoch, order_rng,
                         regularizer=None) -> tuple[float, int, float | None]:
    """One epoch of Adam over minibatches in a fresh order drawn from `order_rng`: (mean task loss per
    sequence, tokens trained on, mean penalty per sequence or None)."""
    model.train()
    batch, total, penalty_sum = cfg["batch_size"], 0.0, None
    order = torch.randperm(len(tokens), generator=order_rng).to(tokens.device)
    for step, i in enumerate(range(0, len(order), batch)):
        idx = order[i : i + batch]
        out, _, penalty = forward_with_penalty(model, tokens[idx], None, regularizer)
        task_loss = sequence_loss(kind, out, targets[idx])
        step_on(model, optimizer, task_loss if penalty is None else task_loss + penalty, cfg, epoch, step,
                cfg.get("clip", 5.0))
        total += task_loss.item() * len(idx)
        if penalty is not None:
            penalty_sum = (penalty_sum or 0.0) + penalty.item() * len(idx)
    return total / len(tokens), tokens.numel(), (None if penalty_sum is None else penalty_sum / len(tokens))


class SequenceModelling:
    """A classification or regression task as the epoch loop sees it: Adam on shuffled minibatches (the
    order drawn from the seed's own generator, checkpointed with the model), error or RMSE per split; a
    regression model trains on standardised targets and is scored in the targets' own units."""

    def __init__(self, model: RNNModel, kind: str, data: SequenceData, cfg: dict, eval_cfg: dict, device, seed: int):
        self.model, self.kind, self.cfg, self.eval_cfg = model, kind, cfg, eval_cfg  # kind: classification, regression
        self.metric = "error" if kind == "classification" else "rmse"
        self.splits = {name: (x.to(device), y.to(device))
                       for name, (x, y) in (("train", data.train), ("valid", data.valid), ("test", data.test))}
        xtr, ytr = self.splits["train"]
        self.scale = target_standardization(kind, ytr, cfg)
        self.fit_targets = (ytr - self.scale[0]) / self.scale[1] if kind == "regression" else ytr
        model.training_examples = len(xtr)  # sequences: the loss is a per-sequence mean
        self.order_rng = torch.Generator().manual_seed(seed)
        self.eval_batch = eval_cfg.get("batch_size", 256)

    def learning_rate(self, epoch: int) -> float:
        return self.cfg["lr"]  # Adam's, constant

    def train_epoch(self, optimizer, epoch: int, regularizer) -> Trained:
        return Trained(*sequence_train_epoch(self.model, self.kind, self.splits["train"][0], self.fit_targets,
                                             self.cfg, optimizer, epoch, self.order_rng, regularizer))

    def loss_in_curve(self, loss: float) -> dict:
        return {}

    def split_tokens(self, split: str) -> int:
        return self.splits[split][0].numel()

    def evaluate(self, split: str, mc_samples: int = 0, on_pass=None) -> float:
        x, y = self.splits[split]
        return sequence_metric(self.model, self.kind, x, y, self.eval_batch, mc_samples,
                               self.eval_cfg.get("mc_embedding", False), self.scale, on_pass)


# --- the epoch loop both kinds share ---------------------------------------------------------------


def fit(training: LanguageModelling | SequenceModelling, model: RNNModel, cfg: dict, eval_cfg: dict, device,
        progress: Progress, regularizer=None, checkpoint: Checkpoint | None = None):
    """Train for `cfg["epochs"]` epochs (resuming after the checkpoint's last one), validating after each,
    then evaluate: (metrics, curves, speed, cost). The training says how an epoch trains and how a split
    is scored; the schedule, timing, curves, checkpoints and final metrics are the same for every training."""
    optimizer = make_optimizer(training.kind, model, cfg)
    state = EpochState(checkpoint, model, optimizer, device, training.order_rng)
    first_epoch = state.resume()
    curves, train_speed, eval_speed = state.curves, state.train_speed, state.eval_speed
    cost = TrainingCost()
    valid_name, test_name = metric_name(training.metric), metric_name(training.metric, "test")
    for epoch in range(first_epoch, cfg["epochs"] + 1):
        lr = training.learning_rate(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        sync(device)
        start = time.perf_counter()
        cost.begin()
        trained = training.train_epoch(optimizer, epoch, regularizer)
        sync(device)
        cost.end(trained.tokens)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        valid_value = training.evaluate("valid")
        sync(device)
        eval_seconds = time.perf_counter() - start
        train_speed.append(trained.tokens / train_seconds)
        eval_speed.append(training.split_tokens("valid") / eval_seconds)
        curves.append({"epoch": epoch, "lr": lr, "train_loss": trained.loss} | training.loss_in_curve(trained.loss)
                      | {valid_name: valid_value, "seconds": train_seconds + eval_seconds}
                      | ({"train_penalty": trained.penalty} if trained.penalty is not None else {})
                      | ({test_name: training.evaluate("test")} if eval_cfg.get("curve_test") else {})
                      | learned_p(model))
        state.end_epoch(epoch)
        progress({"epoch": epoch, "epochs": cfg["epochs"], valid_name: valid_value, "curve": curves[-1]})

    metrics = {valid_name: curves[-1][valid_name], test_name: training.evaluate("test")}
    if eval_cfg.get("train_metric", True):
        metrics[metric_name(training.metric, "train")] = training.evaluate("train")
    n = eval_cfg.get("mc_samples", 0)
    if n and has_mc_sites(model.plan, eval_cfg):
        for split in mc_splits(eval_cfg):
            metrics[metric_name(training.metric, split, mc=True)] = training.evaluate(split, n,
                                                                                  mc_progress(progress, split, n))
    return metrics, curves, {"train_tokens_per_s": spread(train_speed), "eval_tokens_per_s": spread(eval_speed)}, cost


def train_and_evaluate(task, data, regularizer, model_cfg, train_cfg, eval_cfg, seed, device="cpu",
                       progress: Progress = lambda info: None, checkpoint: Checkpoint | None = None) -> dict:
    """Train one model from `seed` and evaluate it; same seed and config give the same numbers on CPU,
    whether or not the training resumed from a `checkpoint` on the way."""
    cpu_start = time.process_time()
    torch.manual_seed(seed)
    model = build_model(task, data, model_cfg, regularizer.plan()).to(device)
    training = (LanguageModelling(model, data, train_cfg, eval_cfg, device) if task.kind == "language-model"
                else SequenceModelling(model, task.kind, data, train_cfg, eval_cfg, device, seed))
    metrics, curves, speed, cost = fit(training, model, train_cfg, eval_cfg, device, progress, regularizer, checkpoint)
    return {"metrics": metrics, "curves": curves, "speed": speed, "cost": cost.record(time.process_time() - cpu_start),
            "parameters": sum(p.numel() for p in model.parameters())} | learned_rates(model)


class TrainingCost:
    """What a job cost without the machine's stalls: the process's CPU time (every thread's, so a job on two
    threads counts both) in its training epochs, and the rest of it (set-up, validation each epoch, the
    final evaluation and MC passes), with the tokens trained on. Wall time counts whatever else the machine
    was doing and every pause; CPU time does not. A resumed job counts the epochs run in this process."""

    def __init__(self) -> None:
        self.train_seconds, self.tokens, self.epochs, self._start = 0.0, 0, 0, 0.0

    def begin(self) -> None:
        self._start = time.process_time()

    def end(self, tokens: int) -> None:
        self.train_seconds += time.process_time() - self._start
        self.tokens += tokens
        self.epochs += 1

    def record(self, total_cpu_seconds: float) -> dict:
        return {"cpu_seconds_train": self.train_seconds,
                "cpu_seconds_evaluate": max(0.0, total_cpu_seconds - self.train_seconds),
                "train_tokens": self.tokens, "epochs_trained": self.epochs}


def learned_p(model: RNNModel) -> dict:
    """A curve entry's learned dropout rates ({"learned_p": {"recurrent.0": p, ...}}), where the plan has any."""
    return {"learned_p": model.learned_rates()} if len(model.rates) else {}


def learned_rates(model: RNNModel) -> dict:
    """The result's final learned rates, where the plan has any."""
    return {"learned_rates": model.learned_rates()} if len(model.rates) else {}
