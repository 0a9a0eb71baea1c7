"""Accuracy estimates for evolutionary search (higher is better), one registry entry each:

- ``naswot``: "Neural Architecture Search without Training" (Mellor et al., ICML 2021): the binary
  activation codes c_i of a mini-batch at every ReLU-family unit define the kernel
  K = C C^T + (1 - C)(1 - C)^T (agreements in Hamming terms); the score is log|det K|.
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

ACTIVATIONS = ("ReLU", "ReLU6", "Hardswish", "SiLU", "GELU", "Hardtanh", "LeakyReLU")

ProxyFactory = Callable[..., Callable[[tuple[int, ...]], float]]
PROXIES: Registry[ProxyFactory] = Registry("accuracy proxy")


def naswot_score(model: Any, x: Any) -> float:
    """log|det K| of the binary activation-pattern kernel over the batch `x` (Mellor et al. 2021)."""
    import torch

    codes: list[torch.Tensor] = []

    def hook(_module, _inp, out):
        codes.append((out.detach().flatten(1) > 0).to(torch.float64))

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m).__name__ in ACTIVATIONS]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not codes:
        raise LutnasError("naswot needs ReLU-family activations; the model has none")
    c = torch.cat(codes, dim=1)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else float("-inf")


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
    out = model(torch.ones(tuple(input_shape), dtype=torch.float64))
    out.sum().backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    return math.log(total) if total > 0 else float("-inf")


def _cached(fn: Callable[[tuple[int, ...]], float]) -> Callable[[tuple[int, ...]], float]:
    cache: dict[tuple[int, ...], float] = {}

    def score(arch: tuple[int, ...]) -> float:
        key = tuple(int(a) for a in arch)
        if key not in cache:
            cache[key] = fn(key)
        return cache[key]

    score.cache = cache  # type: ignore[attr-defined]
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
    equivalent in distribution to a fresh random init and ~5x cheaper than building each network."""
    import torch

    from lutnas.search.supernet import Supernet

    torch.manual_seed(options.seed)
    classes = data.num_classes if data is not None else 10
    return Supernet(space, resolution, classes, options.width_mult).eval()


def _naswot(space: Any, data: Any, options: Any, resolution: int) -> Callable[[tuple[int, ...]], float]:
    import torch

    if data is None:
        raise LutnasError("the naswot proxy needs data (--data)")
    g = torch.Generator().manual_seed(options.seed)
    idx = torch.randperm(len(data.train_y), generator=g)[: min(options.batch_size, len(data.train_y))]
    x = data.train_x[idx]
    supernet = _init_supernet(space, data, options, resolution)
    return _cached(lambda arch: naswot_score(_PathModel(supernet, arch), x))


def _synflow(space: Any, data: Any, options: Any, resolution: int) -> Callable[[tuple[int, ...]], float]:
    import torch

    size = data.resolution if data is not None else 32
    supernet = _init_supernet(space, data, options, resolution).double()
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
    return np.asarray([estimator(tuple(a)) for a in np.asarray(archs, dtype=np.int64)], dtype=np.float64)
