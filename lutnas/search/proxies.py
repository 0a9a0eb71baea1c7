"""Accuracy estimates for evolutionary search (higher is better), one registry entry each:

- ``naswot``: "Neural Architecture Search without Training" (Mellor et al., ICML 2021): the binary
  activation codes c_i of a mini-batch at every ReLU-family unit define the kernel
  K = C C^T + (1 - C)(1 - C)^T (agreements in Hamming terms); the score is log|det K|, with
  BatchNorm on batch statistics (train mode, as the reference scores).
- ``synflow``: "Pruning neural networks without any data by iteratively conserving synaptic flow"
  (Tanaka et al., NeurIPS 2020), used as a NAS proxy (Abdelfattah et al., ICLR 2021): weights replaced
  by their absolute values, an all-ones input in float64, R = sum(output), score = sum |theta * dR/dtheta|
  (reported as log, the raw value overflows quickly with depth).
- ``supernet``: weights inherited from a supernet trained with uniform single-path sampling
  (SPOS, Guo et al. 2020 / Once-for-All), accuracy of each architecture on the held-out split.

An estimator is built once per search (`make_estimator`) and caches scores by architecture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lutnas.errors import LutnasError
from lutnas.registry import Registry
from lutnas.search.naswot import NaswotPaths, naswot_score  # noqa: F401  (naswot_score: API)

ProxyFactory = Callable[..., Callable[[tuple[int, ...]], float]]
PROXIES: Registry[ProxyFactory] = Registry("accuracy proxy")


def synflow_score(model: Any, input_shape: Sequence[int], linearized: bool = False) -> float:
    """log(sum |theta * dR/dtheta|) with |theta| weights and an all-ones input (Tanaka et al. 2020).

    `model` is changed in place (float64, |weights|) unless `linearized` says it already is.
    """
    import torch

    if not linearized:
        model = model.double().eval()
        with torch.no_grad():
            for p in model.parameters():
                p.abs_()
    model.zero_grad(set_to_none=True)
    device = next(iter(model.parameters())).device
    out = model(torch.ones(tuple(input_shape), dtype=torch.float64, device=device))
    out.sum().backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    return math.log(total) if total > 0 else float("-inf")


def _cached(fn: Callable[[tuple[int, ...]], float],
            many: Callable[[list[tuple[int, ...]]], list[float]] | None = None) -> Callable[[tuple[int, ...]], float]:
    """`fn` with a score cache per arch; `score.many(archs)` scores the uncached ones with `many`
    (e.g. concurrently) when given, one by one otherwise."""
    cache: dict[tuple[int, ...], float] = {}

    def score(arch: tuple[int, ...]) -> float:
        key = tuple(int(a) for a in arch)
        if key not in cache:
            cache[key] = fn(key)
        return cache[key]

    def score_many(archs: Sequence[Sequence[int]]) -> list[float]:
        keys = [tuple(int(a) for a in arch) for arch in archs]
        todo = list(dict.fromkeys(k for k in keys if k not in cache))
        if todo and many is not None:
            cache.update(zip(todo, many(todo)))
        return [score(k) for k in keys]

    score.cache = cache  # type: ignore[attr-defined]
    score.many = score_many  # type: ignore[attr-defined]
    return score


class _PathModel:
    """`arch`'s path through a supernet as a callable module (hooks see only the modules it runs)."""

    def __init__(self, supernet: Any, arch: tuple[int, ...]) -> None:
        from lutnas.search.supernet import single

        self.supernet, self.mix = supernet, single(arch)

    def __call__(self, x):
        return self.supernet(x, self.mix)

    def modules(self):
        return self.supernet.modules()

    def parameters(self):
        return self.supernet.parameters()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.supernet.zero_grad(set_to_none=set_to_none)


def _init_supernet(space: Any, data: Any, options: Any, resolution: int):
    """One seeded, untrained supernet: every arch is scored with the same initial weights per candidate,
    equivalent in distribution to a fresh random init and ~5x cheaper than building each network.

    Channels-last: small images reach the late stages at 1x1-2x2, where oneDNN's NCHW depthwise
    7x7 / 5x5 kernels took 3-5 ms a call against 0.14-0.17 ms channels-last (measured here, batch 32).
    """
    import torch

    from lutnas.search.base import resolve_device
    from lutnas.search.supernet import Supernet

    torch.manual_seed(options.seed)
    classes = data.num_classes if data is not None else 10
    supernet = Supernet(space, resolution, classes, options.width_mult).eval()
    return supernet.to(resolve_device(options.device), memory_format=torch.channels_last)


def _naswot(space: Any, data: Any, options: Any, resolution: int) -> Callable[[tuple[int, ...]], float]:
    import torch

    if data is None:
        raise LutnasError("the naswot proxy needs data (--data)")
    g = torch.Generator().manual_seed(options.seed)
    idx = torch.randperm(len(data.train_y), generator=g)[: min(options.batch_size, len(data.train_y))]
    from lutnas.search.inference import for_scoring

    supernet = for_scoring(_init_supernet(space, data, options, resolution))
    x = data.images("train", idx)[0].to(next(supernet.parameters()).device)
    paths = NaswotPaths(supernet, x.contiguous(memory_format=torch.channels_last))
    return _cached(paths.score, paths.score_many)


def _synflow(space: Any, data: Any, options: Any, resolution: int) -> Callable[[tuple[int, ...]], float]:
    import torch

    size = data.resolution if data is not None else 32
    # float64 convolutions skip oneDNN; the native path is faster in NCHW (83 vs 102 ms an arch here)
    supernet = _init_supernet(space, data, options, resolution).double().to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        for p in supernet.parameters():
            p.abs_()
    return _cached(lambda arch: synflow_score(_PathModel(supernet, arch), (1, 3, size, size), linearized=True))


def _supernet(space: Any, data: Any, options: Any, resolution: int) -> Callable[[tuple[int, ...]], float]:
    from lutnas.search.spos import inherited_accuracy, train_supernet_uniform

    if data is None:
        raise LutnasError("the supernet proxy needs data (--data)")
    supernet = train_supernet_uniform(space, data, options, resolution)
    return _cached(lambda arch: inherited_accuracy(supernet, arch, data, options))


PROXIES.register("naswot", _naswot)
PROXIES.register("synflow", _synflow)
PROXIES.register("supernet", _supernet)


def make_estimator(name: str, space: Any, data: Any, options: Any,
                   resolution: int) -> Callable[[tuple[int, ...]], float]:
    """`resolution`: one the space accepts (the table's) for building; inputs come at the data's size."""
    return PROXIES.get(name)(space, data, options, resolution)


def estimate_many(estimator: Callable[[tuple[int, ...]], float], archs: np.ndarray) -> np.ndarray:
    """Scores of a population at once: through the estimator's `many` (concurrent) when it has one."""
    rows = [tuple(a) for a in np.asarray(archs, dtype=np.int64)]
    many = getattr(estimator, "many", None)
    return np.asarray(many(rows) if many is not None else [estimator(r) for r in rows], dtype=np.float64)
