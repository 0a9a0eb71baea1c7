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
from typing import Any, Callable, Sequence

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


def synflow_score(model: Any, input_shape: Sequence[int]) -> float:
    """log(sum |theta * dR/dtheta|) with |theta| weights and an all-ones input (Tanaka et al. 2020)."""
    import torch

    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    out = model(torch.ones(tuple(input_shape), dtype=torch.float64))
    out.sum().backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
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


def _naswot(space: Any, data: Any, options: Any, resolution: int) -> Callable[[tuple[int, ...]], float]:
    import torch

    if data is None:
        raise LutnasError("the naswot proxy needs data (--data)")
    g = torch.Generator().manual_seed(options.seed)
    idx = torch.randperm(len(data.train_y), generator=g)[: min(options.batch_size, len(data.train_y))]
    x = data.train_x[idx]

    def score(arch):
        torch.manual_seed(options.seed)
        model = space.build(arch, resolution, data.num_classes, options.width_mult)
        return naswot_score(model, x)

    return _cached(score)


def _synflow(space: Any, data: Any, options: Any, resolution: int) -> Callable[[tuple[int, ...]], float]:
    import torch

    size = data.resolution if data is not None else 32
    classes = data.num_classes if data is not None else 10

    def score(arch):
        torch.manual_seed(options.seed)
        model = space.build(arch, resolution, classes, options.width_mult)
        return synflow_score(model, (1, 3, size, size))

    return _cached(score)


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
