"""Single-path one-shot supernet training with uniform path sampling (Guo et al., "Single Path
One-Shot Neural Architecture Search with Uniform Sampling", ECCV 2020), the weight-sharing accuracy
estimate used by evolutionary search (as in Once-for-All's evolutionary stage).

Each step trains one architecture drawn with `space.sample` (always valid, depth rules included).
An architecture's estimate is its accuracy on the held-out split with the inherited weights; batch
norm uses batch statistics of the evaluation batches, because running statistics accumulated over
many mixed paths do not describe any single path (the recalibration problem SPOS / OFA discuss).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lutnas.progress import ProgressBar
from lutnas.search.base import resolve_device
from lutnas.search.data import fold_batches
from lutnas.search.supernet import Supernet, single


def train_supernet_uniform(space: Any, data: Any, options: Any, resolution: int) -> Supernet:
    """`resolution`: the layout resolution the space accepts (the table's); data may be smaller."""
    device = resolve_device(options.device)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    supernet = Supernet(space, resolution, data.num_classes, options.width_mult).to(device)
    opt = torch.optim.SGD(supernet.parameters(), lr=options.lr_weights or 0.05, momentum=0.9,
                          weight_decay=4e-5)
    n_batches = len(fold_batches(len(data.train_y), options.batch_size, what=f"{data.name} train split"))
    if options.batches_per_epoch is not None:
        n_batches = min(n_batches, options.batches_per_epoch)
    supernet.train()
    label = "supernet (uniform paths)"
    with ProgressBar(label, options.epochs * n_batches, enabled=options.progress, transient=True, elapsed=True) as bar:
        for _ in range(options.epochs):
            for x, y in data.batches("train", options.batch_size, rng, limit=n_batches):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(supernet(x, single(space.sample(rng))), y)
                loss.backward()
                opt.step()
                bar.advance()
                bar.describe(f"{label}  loss {float(loss.detach()):.3f}")
    return supernet


def inherited_accuracy(supernet: Supernet, arch: Sequence[int], data: Any, options: Any) -> float:
    """Held-out accuracy of `arch` with inherited weights (batch-statistics batch norm)."""
    supernet.train()  # batch statistics; no parameter is updated below
    momenta = {m: m.momentum for m in supernet.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    for m in momenta:
        m.momentum = 0.0  # keep the running statistics untouched
    correct = 0
    device = next(supernet.parameters()).device
    try:
        with torch.no_grad():
            for x, y in data.batches("val", max(options.batch_size, 128), np.random.default_rng(0)):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                correct += int((supernet(x, single(arch)).argmax(1) == y).sum())
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
    return correct / len(data.val_y)
