"""The bilevel loop shared by the differentiable strategies (FBNet, ProxylessNAS; DARTS-style
alternating optimization): supernet weights step on a train batch, architecture logits step on a
held-out batch, one after the other; each epoch logs expected latency, the argmax architecture's
table latency, the target and train/val loss and accuracy.

A strategy supplies a `DnasSteps`: how to mix paths for a weight step and how to compute the
architecture loss for an arch step; this module owns seeding, optimizers, the loop and the log.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lutnas.search.base import (
    ArchParams,
    EpochLog,
    SearchOptions,
    SearchResult,
    check_table_space,
    make_result,
    predict_one,
    progress_bar,
    repair_arch,
)
from lutnas.search.data import fold_batches
from lutnas.search.latency_loss import LatencyObjective
from lutnas.search.supernet import Supernet


@dataclass
class DnasState:
    """What the step functions see: the supernet, arch params, objective, options, epoch values."""

    supernet: Supernet
    params: ArchParams
    objective: LatencyObjective
    options: SearchOptions
    temperature: float = 1.0
    epoch: int = 0
    scratch: dict = field(default_factory=dict)  # per-step values a strategy keeps between calls


@dataclass
class DnasSteps:
    name: str
    weight_mix: Callable[[DnasState], list]  # -> list[LayerMix] for one weight step (no arch grad)
    arch_loss: Callable[[DnasState, Any, Any], tuple[Any, Any]]  # (x, y) -> (loss, logits)
    after_arch_step: Callable[[DnasState], None] | None = None


class _Meter:
    def __init__(self) -> None:
        self.loss = self.correct = self.count = 0.0

    def add(self, loss: float, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss += loss * len(y)
        self.correct += float((logits.argmax(1) == y).sum())
        self.count += len(y)

    def means(self) -> tuple[float | None, float | None]:
        if not self.count:
            return None, None
        return self.loss / self.count, self.correct / self.count


def run_dnas(steps: DnasSteps, table: Any, space: Any, data: Any, options: SearchOptions,
             objective: LatencyObjective) -> SearchResult:
    check_table_space(table, space)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    supernet = Supernet(space, table.resolution, data.num_classes, options.width_mult)
    params = ArchParams(table)
    state = DnasState(supernet, params, objective, options, temperature=options.temperature)
    w_opt = torch.optim.SGD(supernet.parameters(), lr=options.lr_weights, momentum=0.9, weight_decay=4e-5)
    a_opt = torch.optim.Adam([params.alpha], lr=options.lr_arch, betas=(0.9, 0.999), weight_decay=0.0)
    log = EpochLog(options.log_path)
    n_batches = len(fold_batches(len(data.train_y), options.batch_size, what=f"{data.name} train split"))
    if options.batches_per_epoch is not None:
        n_batches = min(n_batches, options.batches_per_epoch)
    with progress_bar(options.progress) as bar:
        task = bar.add_task(steps.name, total=options.epochs * n_batches, status="")
        for epoch in range(options.epochs):
            state.epoch = epoch
            train, val = _Meter(), _Meter()
            supernet.train()
            val_batches = cycle(list(data.batches("val", options.batch_size, rng)))
            for x, y in data.batches("train", options.batch_size, rng, limit=n_batches):
                w_opt.zero_grad(set_to_none=True)
                logits = supernet(x, steps.weight_mix(state))
                loss = F.cross_entropy(logits, y)
                loss.backward()
                w_opt.step()
                train.add(float(loss.detach()), logits.detach(), y)
                if epoch >= options.warmup_epochs:
                    xv, yv = next(val_batches)
                    a_opt.zero_grad(set_to_none=True)
                    arch_loss, vlogits = steps.arch_loss(state, xv, yv)
                    arch_loss.backward()
                    a_opt.step()
                    if steps.after_arch_step is not None:
                        steps.after_arch_step(state)
                    val.add(float(F.cross_entropy(vlogits.detach(), yv)), vlogits.detach(), yv)
                bar.advance(task)
            record = _epoch_record(steps.name, state, table, train, val)
            log.write(record)
            bar.update(task, status=f"E[LAT] {record['expected_latency_ms']:.3f} ms "
                                    f"argmax {record['argmax_latency_ms']:.3f} ms")
            state.temperature *= math.exp(-options.temperature_decay)
    with torch.no_grad():
        probs = params.probs().numpy()
    arch = repair_arch(space, params.argmax(), scores=probs)
    return make_result(table, space, arch, log.records, weights=supernet.subnet_state(arch),
                       extra={"arch_probs": probs.tolist(), "supernet": supernet})


def _epoch_record(name: str, state: DnasState, table: Any, train: _Meter, val: _Meter) -> dict:
    arch = state.params.argmax()
    with torch.no_grad():
        expected = float(state.params.expected_latency())
    train_loss, train_acc = train.means()
    val_loss, val_acc = val.means()
    return {
        "strategy": name,
        "epoch": state.epoch,
        "temperature": state.temperature,
        "expected_latency_ms": expected,
        "argmax_latency_ms": predict_one(table, arch)[0],
        "target_ms": state.options.latency_ms,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "argmax_arch": list(arch),
    }
