"""The bilevel loop shared by the differentiable strategies (FBNet, ProxylessNAS): supernet weights
train on the train split, architecture logits on the held-out split, never the other way round.

A strategy supplies a `DnasRecipe` (its paper's settings) and `DnasSteps` (how to mix paths for a
weight step, how to compute the architecture loss); this module owns seeding, optimizers, the epoch
plan and the log. The plan follows the papers:

- the first `warmup_epochs` epochs train weights only (ProxylessNAS warms up 40 epochs before its
  120 search epochs; FBNet implementations start alpha after 10 of 90);
- ``arch_every=None`` (FBNet): "in each epoch, we first train the operator weights w and then the
  architecture parameters": all weight steps, then one pass over the held-out split;
- ``arch_every=N`` (ProxylessNAS's released code, N = 5): an architecture step on the next held-out
  batch after every N-th weight step.

Weights: SGD (momentum 0.9), the recipe's weight decay / Nesterov / label smoothing, the paper's
learning rate scaled linearly from its batch size to ours, cosine-decayed over all weight steps.
Supernet, alpha and the latency table live on `options.device`; on CUDA the steps run under mixed
precision (`Precision`). Architecture: Adam with the recipe's rate and betas; arch steps back-propagate
to alpha only (`backward(inputs=...)`), which skips every weight gradient.
The FBNet temperature is T0 * exp(-decay * epoch) (`temperature_at`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lutnas.errors import LutnasError
from lutnas.progress import ProgressBar
from lutnas.search.base import (
    ArchParams,
    EpochLog,
    SearchOptions,
    SearchResult,
    check_table_space,
    make_result,
    repair_arch,
    resolve_device,
)
from lutnas.search.data import fold_batches
from lutnas.search.latency_loss import LatencyObjective, make_objective
from lutnas.search.supernet import LayerMix, Supernet

WEIGHT_GRAD_CLIP = 1000.0  # total-norm clip of weight gradients: binds only on blow-ups (see `_weight_step`)


@dataclass(frozen=True)
class DnasRecipe:
    """A strategy's published settings; `SearchOptions` override the ones they name."""

    name: str
    latency_loss: str
    lr_weights: float  # the paper's initial rate at `reference_batch`, scaled linearly to the batch size
    reference_batch: int
    weight_decay: float
    nesterov: bool
    label_smoothing: float
    lr_arch: float
    arch_betas: tuple[float, float]
    arch_weight_decay: float
    warmup_share: float  # default warm-up = round(share * epochs)
    arch_every: int | None  # None: FBNet's phases (all weight steps, then a pass over the held-out split)

    def warmup_epochs(self, options: SearchOptions) -> int:
        if options.warmup_epochs is not None:
            return options.warmup_epochs
        return round(self.warmup_share * options.epochs)

    def weights_lr(self, options: SearchOptions) -> float:
        """The paper's rate times batch / its batch (the linear scaling rule, Goyal et al. 2017): 0.1 at
        192 diverged within one epoch at batch 2 (NaN weights)."""
        if options.lr_weights is not None:
            return options.lr_weights
        return self.lr_weights * options.batch_size / self.reference_batch

    def objective(self, table: Any, options: SearchOptions) -> LatencyObjective:
        return make_objective(options.latency_loss or self.latency_loss, table, options.latency_ms,
                              alpha=options.loss_alpha, beta=options.loss_beta, lam=options.loss_lambda)


@dataclass
class Precision:
    """Mixed precision where asked (default: on CUDA): bfloat16 autocast where the GPU has it, else
    float16 with loss scaling; full precision otherwise. The latency term stays float64."""

    device_type: str
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    @staticmethod
    def for_device(device: torch.device, amp: bool | None) -> Precision:
        if not (device.type == "cuda" if amp is None else amp):
            return Precision(device.type)
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return Precision("cuda", torch.float16, torch.amp.GradScaler("cuda"))
        return Precision(device.type, torch.bfloat16)

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def backward(self, loss: torch.Tensor, inputs: list[torch.Tensor] | None = None) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward(inputs=inputs)

    def step(self, optimizer: torch.optim.Optimizer, max_norm: float = math.inf) -> float:
        """One step with the gradients' total norm clipped to `max_norm`; none where a gradient is not
        finite, as loss scaling skips an overflowed step. Returns the norm before clipping."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        elif math.isfinite(norm):
            optimizer.step()
        return norm


@dataclass
class DnasState:
    """What the step functions see: the supernet, arch params, objective, options, epoch values."""

    supernet: Supernet
    params: ArchParams
    objective: LatencyObjective
    options: SearchOptions
    device: torch.device
    precision: Precision
    temperature: float = 1.0
    epoch: int = 0
    scratch: dict = field(default_factory=dict)  # per-step values a strategy keeps between calls


@dataclass
class DnasSteps:
    recipe: DnasRecipe
    weight_mix: Callable[[DnasState], list[LayerMix]]  # one weight step's paths (no arch gradient)
    arch_loss: Callable[[DnasState, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    after_arch_step: Callable[[DnasState], None] | None = None


@dataclass(frozen=True)
class EpochPlan:
    """Steps per epoch: weight steps, architecture steps (once warm-up is over), and the schedule."""

    weight_steps: int
    arch_steps: int
    warmup_epochs: int
    arch_every: int | None

    @staticmethod
    def of(data: Any, options: SearchOptions, recipe: DnasRecipe) -> EpochPlan:
        n_train = len(fold_batches(len(data.train_y), options.batch_size, what=f"{data.name} train split"))
        n_val = len(fold_batches(len(data.val_y), options.batch_size, what=f"{data.name} val split"))
        weight_steps = min(n_train, options.batches_per_epoch or n_train)
        every = options.arch_every or recipe.arch_every
        if every is None:  # one held-out pass, shortened in proportion when weight steps are capped
            arch_steps = min(n_val, math.ceil(n_val * weight_steps / n_train))
        else:
            arch_steps = weight_steps // every
        return EpochPlan(weight_steps, arch_steps, recipe.warmup_epochs(options), every)

    def steps_in(self, epoch: int) -> int:
        return self.weight_steps + (self.arch_steps if epoch >= self.warmup_epochs else 0)


@dataclass
class Optimizers:
    weights: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    arch: torch.optim.Optimizer


class _Meter:
    """Loss and accuracy sums kept as tensors on the device: read once an epoch, not once a step."""

    def __init__(self) -> None:
        self.loss: Any = 0.0
        self.correct: Any = 0
        self.count = 0
        self.skipped = 0  # steps left out for a gradient that was not finite
        self.clipped = 0  # steps whose gradient norm was clipped

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss = self.loss + loss.detach().float() * len(y)
        self.correct = self.correct + (logits.argmax(1) == y).sum()
        self.count += len(y)

    def means(self) -> tuple[float | None, float | None]:
        if not self.count:
            return None, None
        return float(self.loss) / self.count, float(self.correct) / self.count


def temperature_at(options: SearchOptions, epoch: int) -> float:
    """FBNet's Gumbel-softmax temperature: T0, annealed by exp(-decay) every epoch."""
    return options.temperature * math.exp(-options.temperature_decay * epoch)


def run_dnas(steps: DnasSteps, table: Any, space: Any, data: Any, options: SearchOptions) -> SearchResult:
    check_table_space(table, space)
    device = resolve_device(options.device)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    supernet = Supernet(space, table.resolution, data.num_classes, options.width_mult).to(device)
    state = DnasState(supernet, ArchParams(table, device), steps.recipe.objective(table, options), options, device,
                      Precision.for_device(device, options.amp))
    plan = EpochPlan.of(data, options, steps.recipe)
    opts = _optimizers(state, steps.recipe, plan)
    held_out = _endless(data, options.batch_size, rng)
    log = EpochLog(options.log_path)
    name = steps.recipe.name
    total = sum(plan.steps_in(e) for e in range(options.epochs))
    with ProgressBar(name, total, enabled=options.progress, transient=True, elapsed=True) as bar:
        for epoch in range(options.epochs):
            state.epoch, state.temperature = epoch, temperature_at(options, epoch)
            record = _run_epoch(steps, state, data, plan, opts, rng, held_out, bar.advance)
            _check_finite(name, state, record)
            record["lr_weights"] = opts.schedule.get_last_lr()[0]
            log.write(record)
            bar.describe(f"{name}  E[LAT] {record['expected_latency_ms']:.3f} ms "
                         f"argmax {record['argmax_latency_ms']:.3f} ms")
    return _result(state, table, space, log.records)


def _check_finite(name: str, state: DnasState, record: dict) -> None:
    """A diverged search stops with the cause rather than returning the argmax of NaN logits."""
    losses = [record[k] for k in ("train_loss", "val_loss") if record[k] is not None]
    if all(math.isfinite(v) for v in losses) and bool(torch.isfinite(state.params.alpha).all()):
        return
    raise LutnasError(f"{name} diverged in epoch {state.epoch} (loss or architecture logits not finite); "
                      f"lower the learning rates (--lr-weights, --lr-arch) or raise --batch-size")


def _optimizers(state: DnasState, recipe: DnasRecipe, plan: EpochPlan) -> Optimizers:
    options = state.options
    weights = torch.optim.SGD(state.supernet.parameters(), lr=recipe.weights_lr(options),
                              momentum=0.9, nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(weights, T_max=options.epochs * plan.weight_steps)
    arch = torch.optim.Adam([state.params.alpha], lr=options.lr_arch or recipe.lr_arch, betas=recipe.arch_betas,
                            weight_decay=recipe.arch_weight_decay)
    return Optimizers(weights, schedule, arch)


def _endless(data: Any, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[Any, Any]]:
    """Held-out batches without end, reshuffled at every pass (ProxylessNAS's `valid_next_batch`)."""
    while True:
        yield from data.batches("val", batch_size, rng)


def _run_epoch(steps: DnasSteps, state: DnasState, data: Any, plan: EpochPlan, opts: Optimizers,
               rng: np.random.Generator, held_out: Iterator, advance: Callable[[], None]) -> dict:
    train, val = _Meter(), _Meter()
    arch_on = state.epoch >= plan.warmup_epochs
    state.supernet.train()
    batch_size = state.options.batch_size
    for i, (x, y) in enumerate(data.batches("train", batch_size, rng, limit=plan.weight_steps)):
        _weight_step(steps, state, x, y, opts, train)
        advance()
        if arch_on and plan.arch_every is not None and (i + 1) % plan.arch_every == 0:
            _arch_step(steps, state, *next(held_out), opts, val)
            advance()
    if arch_on and plan.arch_every is None:
        for x, y in data.batches("val", batch_size, rng, limit=plan.arch_steps):
            _arch_step(steps, state, x, y, opts, val)
            advance()
    return _epoch_record(steps.recipe.name, state, train, val, arch_on)


def _weight_step(steps: DnasSteps, state: DnasState, x: Any, y: Any, opts: Optimizers, meter: _Meter) -> None:
    """One SGD step on a train batch, gradient norm clipped to WEIGHT_GRAD_CLIP.

    Neither paper clips, and at ordinary batches this never binds (proxyless, batch 64, 32 px digits:
    norms 20-100 over 3 epochs). At batch 2 a late BatchNorm sees two values per channel (1x1 maps at
    32 px) and its backward scales by 1 / |a - b|: norms of 1e4-1e12, and unclipped the weights were
    NaN within the first epoch (FBNet, seed 3).
    """
    x, y = x.to(state.device, non_blocking=True), y.to(state.device, non_blocking=True)
    opts.weights.zero_grad(set_to_none=True)
    with state.precision.autocast():
        logits = state.supernet(x, steps.weight_mix(state))
        loss = F.cross_entropy(logits, y, label_smoothing=steps.recipe.label_smoothing)
    state.precision.backward(loss)
    norm = state.precision.step(opts.weights, max_norm=WEIGHT_GRAD_CLIP)
    meter.skipped += not math.isfinite(norm)
    meter.clipped += norm > WEIGHT_GRAD_CLIP
    opts.schedule.step()
    meter.add(loss, logits.detach(), y)


def _arch_step(steps: DnasSteps, state: DnasState, x: Any, y: Any, opts: Optimizers, meter: _Meter) -> None:
    x, y = x.to(state.device, non_blocking=True), y.to(state.device, non_blocking=True)
    opts.arch.zero_grad(set_to_none=True)
    with state.precision.autocast():
        loss, logits = steps.arch_loss(state, x, y)
    state.precision.backward(loss, inputs=[state.params.alpha])
    meter.skipped += not math.isfinite(state.precision.step(opts.arch))
    if steps.after_arch_step is not None:
        steps.after_arch_step(state)
    logits = logits.detach().float()
    meter.add(F.cross_entropy(logits, y), logits, y)


def _epoch_record(name: str, state: DnasState, train: _Meter, val: _Meter, arch_on: bool) -> dict:
    arch = state.params.argmax()
    with torch.no_grad():
        expected = float(state.params.expected_latency())
    train_loss, train_acc = train.means()
    val_loss, val_acc = val.means()
    return {
        "strategy": name,
        "epoch": state.epoch,
        "warmup": not arch_on,
        "temperature": state.temperature,
        "expected_latency_ms": expected,
        "argmax_latency_ms": state.params.expected.of_arch(arch),
        "target_ms": state.options.latency_ms,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "skipped_steps": {"weights": train.skipped, "arch": val.skipped},
        "clipped_weight_steps": train.clipped,
        "argmax_arch": list(arch),
    }


def _result(state: DnasState, table: Any, space: Any, records: list[dict]) -> SearchResult:
    with torch.no_grad():
        probs = state.params.probs().cpu().numpy()
    arch = repair_arch(space, state.params.argmax(), scores=probs)
    weights = {k: v.cpu() for k, v in state.supernet.subnet_state(arch).items()}
    return make_result(table, space, arch, records, weights=weights,
                       extra={"arch_probs": probs.tolist(), "supernet": state.supernet})
