"""Expected latency over a dense LUT as a differentiable torch expression, and the loss forms that use it.

The LUT decomposition (latency ~= fixed + sum_l LUT[l, arch[l]]) makes the expected latency of a
categorical architecture distribution linear in its probabilities (FBNet, Wu et al. 2019, eq. 4;
ProxylessNAS, Cai et al. 2019, eq. 5):

    E[LAT] = fixed + sum_l sum_i p_{l,i} * LUT[l, i]

Choices that do not exist in a layer (NaN in the table) are masked out of the softmax, so they get
probability exactly zero and never contribute gradient. Skip choices cost 0.0 and stay selectable.

Loss forms (a `LatencyObjective`):
- ``none``:       CE                                                    (accuracy only)
- ``fbnet``:      CE * alpha * (log LAT)^beta                            (FBNet, alpha=0.2, beta=0.6; LAT: the
                  Gumbel-softmax weights of the step in place of p, the paper's eq. 7)
- ``mul#log``:    CE * alpha * (log E[LAT] / log ref)^beta               (ProxylessNAS, alpha=0.2, beta=0.3)
- ``add#linear``: CE + lambda * (E[LAT] - ref) / ref                    (ProxylessNAS, lambda=0.1)

The log forms need latencies above 1 in their unit; tables of tiny networks can be sub-millisecond, so
latencies are divided by ``unit_ms`` = min(1 ms, min_latency / e) (`log_unit_ms`), which is 1 ms for any
table whose cheapest architecture takes more than e ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lutnas.errors import LutnasError, TableError

LOSS_MODES = ("none", "fbnet", "mul#log", "add#linear")


def choice_mask(table: Any) -> np.ndarray:
    """Bool [L, C_max]: True where the choice exists in its layer (finite table entry)."""
    lut = np.asarray(table.latency_ms, dtype=np.float64)
    mask = np.isfinite(lut)
    if not mask.any(axis=1).all():
        bad = int(np.flatnonzero(~mask.any(axis=1))[0])
        raise TableError(f"latency table layer {bad} has no finite entry")
    return mask


def min_latency_ms(table: Any) -> float:
    """The cheapest architecture the table allows: fixed + per-layer minimum."""
    lut = np.where(choice_mask(table), table.latency_ms, np.inf)
    return float(table.fixed_ms + lut.min(axis=1).sum())


def max_latency_ms(table: Any) -> float:
    lut = np.where(choice_mask(table), table.latency_ms, -np.inf)
    return float(table.fixed_ms + lut.max(axis=1).sum())


def log_unit_ms(table: Any, ref_ms: float | None = None) -> float:
    """The latency unit for log losses: 1 ms unless the table (or ref) goes below e ms."""
    low = min_latency_ms(table)
    if ref_ms is not None:
        low = min(low, ref_ms)
    if low <= 0:
        raise TableError(f"latency table's minimum latency is {low:.4g} ms; log losses need > 0")
    return min(1.0, low / math.e)


class ExpectedLatency:
    """E[LAT] = fixed + sum p * LUT over a DenseTable; call with arch logits [L, C_max].

    The table lives on `device` (the supernet's), in float64. Layers are added one after another in
    layer order after the fixed cost, as `DenseTable.predict` adds them, so a one-hot p gives exactly the
    latency `lutnas predict` reports for that architecture (on CPU; a GPU scan may differ in the last bit).
    """

    def __init__(self, table: Any, device: Any = None) -> None:
        import torch

        self.mask_np = choice_mask(table)
        self.fixed_ms = float(table.fixed_ms)
        lut = np.where(self.mask_np, table.latency_ms, 0.0)
        self.lut = torch.as_tensor(lut, dtype=torch.float64, device=device)
        self.mask = torch.as_tensor(self.mask_np, device=device)
        self.fixed = torch.tensor([self.fixed_ms], dtype=torch.float64, device=device)

    def probs(self, logits):
        """Softmax over each layer's existing choices; missing choices get exactly 0."""
        import torch

        masked = logits.masked_fill(~self.mask, float("-inf"))
        return torch.softmax(masked, dim=-1)

    def from_probs(self, probs):
        """fixed + sum_l (sum_i p[l, i] * LUT[l, i]) for any weights p [L, C_max] (softmax or Gumbel)."""
        import torch

        per_layer = (probs.to(self.lut.dtype) * self.lut).sum(dim=1)
        return torch.cat([self.fixed, per_layer]).cumsum(0)[-1]

    def __call__(self, logits):
        return self.from_probs(self.probs(logits))

    def of_arch(self, arch: Any) -> float:
        """One architecture's table latency (`lutnas predict`'s value to the last bits), in torch.

        The training loop logs this rather than calling `DenseTable.predict`: numba's OpenMP workers
        spin after a parallel kernel, and on a busy 2-core machine each later torch step ran 20-40x
        slower (0.17 -> 4-8 s for one 32 px path; OMP_WAIT_POLICY=passive or the workqueue layer
        avoid it).
        """
        import torch

        one_hot = torch.zeros_like(self.lut)
        one_hot[torch.arange(len(arch)), torch.as_tensor(list(arch))] = 1.0
        return float(self.from_probs(one_hot))


@dataclass(frozen=True)
class LatencyObjective:
    """One of `LOSS_MODES`, with its constants; `__call__(ce, expected_ms)` -> scalar loss."""

    mode: str = "none"
    alpha: float = 0.2
    beta: float = 0.6
    lam: float = 0.1
    ref_ms: float | None = None
    unit_ms: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in LOSS_MODES:
            raise LutnasError(f"unknown latency loss {self.mode!r}; valid: {', '.join(LOSS_MODES)}")
        if self.mode in ("mul#log", "add#linear") and (self.ref_ms is None or self.ref_ms <= 0):
            raise LutnasError(f"latency loss {self.mode} needs a positive reference latency (--latency-ms)")
        if self.mode in ("mul#log", "fbnet") and self.ref_ms is not None and self.ref_ms / self.unit_ms <= 1:
            raise LutnasError(f"reference latency {self.ref_ms} ms is below the log unit {self.unit_ms} ms")

    def __call__(self, ce, expected_ms):
        if self.mode == "none":
            return ce
        lat = expected_ms.to(ce.dtype)
        if self.mode == "add#linear":
            return ce + self.lam * (lat - self.ref_ms) / self.ref_ms
        log_lat = (lat / self.unit_ms).log()
        if self.mode == "mul#log":
            log_lat = log_lat / math.log(self.ref_ms / self.unit_ms)
        return ce * self.alpha * log_lat.clamp_min(1e-6) ** self.beta


LOSS_CONSTANTS = {  # the papers' values: FBNet (Wu et al. 2019, sec. 4.1); ProxylessNAS's released arch search
    "none": {},
    "fbnet": {"alpha": 0.2, "beta": 0.6},
    "mul#log": {"alpha": 0.2, "beta": 0.3},
    "add#linear": {"lam": 0.1},
}


def make_objective(mode: str, table: Any, ref_ms: float | None, alpha: float | None = None,
                   beta: float | None = None, lam: float | None = None) -> LatencyObjective:
    """A LatencyObjective with the paper's constants for `mode` (unless given) and the log unit chosen for
    this table (see module docstring)."""
    if mode not in LOSS_MODES:
        raise LutnasError(f"unknown latency loss {mode!r}; valid: {', '.join(LOSS_MODES)}")
    given = {"alpha": alpha, "beta": beta, "lam": lam}
    constants = {k: v for k, v in LOSS_CONSTANTS[mode].items() if given[k] is None}
    constants.update({k: v for k, v in given.items() if v is not None})
    unit = log_unit_ms(table, ref_ms) if mode in ("fbnet", "mul#log") else 1.0
    return LatencyObjective(mode=mode, ref_ms=ref_ms, unit_ms=unit, **constants)
