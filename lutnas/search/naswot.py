"""The NASWOT score ("Neural Architecture Search without Training", Mellor et al., ICML 2021), fast.

The binary codes c_i of a mini-batch at every ReLU-family unit define the kernel
K = C C^T + (1 - C)(1 - C)^T (agreements in Hamming terms); the score is log|det K|.

K is a sum over units, so it is a sum over the blocks of a network: `NaswotPaths` runs single
paths through a supernet block by block and keeps, per (block position, choices so far), the block's
output and the kernel summed up to it. A path that shares its first k layers with one scored before
starts from there. Evolution's children share long prefixes with their parents, so late generations,
the bulk of a search, run only their last few blocks (the cache is LRU, bounded in bytes). A
population is scored by one thread per core at once (`score_many`); hooks collect codes per thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from lutnas.errors import LutnasError

ACTIVATIONS = ("ReLU", "ReLU6", "Hardswish", "SiLU", "GELU", "Hardtanh", "LeakyReLU")
CACHE_BYTES = 256 << 20


def naswot_score(model: Any, x: Any) -> float:
    """log|det K| of the binary activation-pattern kernel over the batch `x`, for any torch model."""
    import torch

    codes = ActivationCodes(model)
    try:
        with torch.no_grad():
            model(x)
        kernel = codes.kernel_part(x.shape[0])
    finally:
        codes.close()
    if not codes.seen:
        raise LutnasError("naswot needs ReLU-family activations; the model has none")
    return naswot_logdet(kernel)


class ActivationCodes:
    """Forward hooks on a model's ReLU-family modules that collect each unit's on/off code.

    Registered once and kept: walking a supernet's thousands of modules to hook and unhook them for
    every architecture cost ~12 ms an arch, a sixth of the score. Only the modules a forward pass
    runs add codes, so one set of hooks serves every path.
    """

    def __init__(self, model: Any) -> None:
        self._local = threading.local()   # each scoring thread collects its own path's codes
        self.seen = False
        self._handles = [m.register_forward_hook(self._hook) for m in model.modules()
                         if type(m).__name__ in ACTIVATIONS]

    def _hook(self, _module, _inp, out) -> None:
        import torch

        y = out.detach()
        if y.dim() == 4 and y.is_contiguous(memory_format=torch.channels_last):
            y = y.permute(0, 2, 3, 1)   # a contiguous view: flattening it copies nothing (unit order is free)
        self._codes.append((y > 0).reshape(y.shape[0], -1))
        self.seen = True

    @property
    def _codes(self) -> list[Any]:
        if not hasattr(self._local, "codes"):
            self._local.codes = []
        return self._local.codes

    def kernel_part(self, batch: int) -> Any:
        """2 C C^T + n - r_i - r_j (float64 [batch, batch]) of the codes collected since the last call.

        Equal to C C^T + (1 - C)(1 - C)^T with one matmul instead of two; the matmul runs in float32,
        exact for integer sums below 2^24 units (float64 beyond).
        """
        import torch

        if not self._codes:
            return torch.zeros(batch, batch, dtype=torch.float64)
        c = torch.cat(self._codes, dim=1)
        self._codes.clear()
        c = c.to(torch.float32 if c.shape[1] < 2**24 else torch.float64)
        agree = (c @ c.T).to(torch.float64)
        rows = agree.diagonal()   # c is 0/1: c_i . c_i is the row sum
        return 2.0 * agree + c.shape[1] - rows[:, None] - rows[None, :]

    def reset(self) -> None:
        """Drop codes collected outside a scoring pass (another caller ran the model)."""
        self._codes.clear()

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def naswot_logdet(kernel: Any) -> float:
    import torch

    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else float("-inf")


class NaswotPaths:
    """NASWOT scores of single paths through one `Supernet`, reusing the longest prefix already run."""

    def __init__(self, supernet: Any, x: Any, cache_bytes: int = CACHE_BYTES) -> None:
        self.supernet, self.x = supernet, x
        self.codes = ActivationCodes(supernet)
        self._cache: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
        self._bytes, self._budget = 0, cache_bytes
        self._lock = threading.Lock()

    def score_many(self, archs: Sequence[Sequence[int]], threads: int | None = None) -> list[float]:
        """Scores in `threads` Python threads with one torch thread each: torch ops release the GIL,
        and two single-threaded paths beat one path on two threads for these tiny tensors
        (measured here: 17-18 vs 25-26 ms an arch, same scores)."""
        from concurrent.futures import ThreadPoolExecutor

        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(threads or before) as pool:
                return list(pool.map(self.score, archs))
        finally:
            torch.set_num_threads(before)

    def score(self, arch: Sequence[int]) -> float:
        import torch

        x, kernel = self.x, torch.zeros(self.x.shape[0], self.x.shape[0], dtype=torch.float64)
        layer, prefix = 0, ()
        self.codes.reset()
        for pos, (kind, segment) in enumerate(zip(self.supernet.kinds, self.supernet.segments)):
            module = segment
            if kind == "layer":
                prefix = tuple(int(a) for a in arch[:layer + 1])
                module = segment[prefix[-1]]
                layer += 1
            key = (pos, prefix)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is not None:
                x, kernel = hit
                continue
            with torch.inference_mode():
                x = module(x)
            kernel = kernel + self.codes.kernel_part(self.x.shape[0])
            self._remember(key, x, kernel)
        if not self.codes.seen:
            raise LutnasError("naswot needs ReLU-family activations; the model has none")
        return naswot_logdet(kernel)

    def _remember(self, key: tuple, x: Any, kernel: Any) -> None:
        with self._lock:
            old = self._cache.pop(key, None)   # two threads may compute the same prefix
            if old is not None:
                self._bytes -= _nbytes(old)
            self._cache[key] = (x, kernel)
            self._bytes += _nbytes((x, kernel))
            while self._bytes > self._budget and self._cache:
                self._bytes -= _nbytes(self._cache.popitem(last=False)[1])


def _nbytes(tensors: tuple[Any, ...]) -> int:
    return sum(t.element_size() * t.nelement() for t in tensors)


def fold_batchnorm(model: Any) -> Any:
    """Fold every eval-mode conv -> BN pair of `ConvBNAct` into one biased conv, in place.

    The proxies only run inference with frozen statistics, where BN is an affine map per channel;
    folding it removes a third of the ops a path runs (scoring is per-op overhead bound here).
    Not for synflow, whose score sums over the BN parameters too.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from lutnas.spaces.layers import ConvBNAct

    for module in model.modules():
        if isinstance(module, ConvBNAct) and isinstance(getattr(module, "bn", None), nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    return model
