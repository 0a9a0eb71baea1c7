"""A kernel zoo: small random networks whose kernels teach a kernel table's regressor.

A table filled from a few models holds tens of kernels per kind, all of those models' shapes, and its
learned models must predict kernels of families it never saw (issue 14, goal 2). nn-Meter answers
with thousands of sampled kernels per kind; a kernel table can do the same on the device it
profiles: `profile --onnx ... --zoo N` adds N networks sampled here from the operators of the
models users bring (plain, pointwise, depthwise and grouped convolutions with their activations,
residual adds, pooling, concatenation, channel shuffles, squeeze-excite gates, MLPs with GELU,
attention with softmax, layer norm, token-mixing transposes, classifier heads), with channel counts,
windows, strides and planes drawn at random. Their kernels are timed like any model's (in-model:
inside their own network) and stored with role "zoo": they teach the regressor and are never
validation anchors. The sampler is seeded and knows nothing of any benchmark family.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lutnas.errors import LutnasError

ZOO_SEED = 20261203
CHANNELS = (8, 12, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192)
RESOLUTIONS = (8, 14, 16, 24, 28, 32, 48, 56, 64)
CONV_OPS = ("pointwise", "depthwise", "conv", "grouped", "residual", "pool", "shuffle", "concat", "gate")
TOKEN_OPS = ("mlp", "attention", "norm", "mix")
MAX_ZOO = 512


@dataclass(frozen=True)
class ZooNet:
    """One sampled network: its layer recipe (for humans) and its input resolution."""

    name: str
    resolution: int
    recipe: tuple[str, ...]


def zoo_paths(count: int, out_dir: str | Path, seed: int = ZOO_SEED) -> list[Path]:
    """Export `count` sampled networks as ONNX under `out_dir` (same seed, same files)."""
    from lutnas.lowering.onnx_io import export_onnx

    if not 0 < count <= MAX_ZOO:
        raise LutnasError(f"--zoo takes 1 to {MAX_ZOO} networks, not {count}")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        net, module = sample_network(rng, f"zoo{seed}-{i:03d}")
        path = out_dir / f"{net.name}.onnx"
        if not path.exists():
            export_onnx(module, (1, 3, net.resolution, net.resolution), path)
        paths.append(path)
    return paths


def sample_network(rng: np.random.Generator, name: str) -> tuple[ZooNet, nn.Module]:
    """A stem, three to six random layers (a token stage half of the time) and a classifier head."""
    torch.manual_seed(int(rng.integers(1 << 31)))       # weights too: same seed, same file
    res = int(rng.choice(RESOLUTIONS))
    channels = int(rng.choice(CHANNELS[:6]))
    builder = _Builder(rng, channels, res)
    builder.stem()
    for _ in range(int(rng.integers(3, 7))):
        builder.conv_op(str(rng.choice(CONV_OPS)))
    if rng.random() < 0.5:
        builder.tokens([str(rng.choice(TOKEN_OPS)) for _ in range(int(rng.integers(1, 4)))])
    builder.head()
    module = builder.module()
    return ZooNet(name, res, tuple(builder.recipe)), module


class _Builder:
    """Tracks the running (channels, plane) while layers are appended."""

    def __init__(self, rng: np.random.Generator, channels: int, res: int) -> None:
        self.rng, self.c, self.hw = rng, channels, res
        self.layers: list[nn.Module] = []
        self.recipe: list[str] = []

    def _act(self) -> nn.Module:
        return [nn.Identity(), nn.ReLU(), nn.ReLU6(), nn.SiLU()][int(self.rng.integers(4))]

    def _stride(self) -> int:
        return 2 if self.hw >= 8 and self.rng.random() < 0.3 else 1

    def _add(self, layer: nn.Module, text: str, channels: int, stride: int = 1) -> None:
        self.layers.append(layer)
        self.recipe.append(text)
        self.c, self.hw = channels, (self.hw + stride - 1) // stride

    def stem(self) -> None:
        stride = 2 if self.hw >= 32 else 1
        k = int(self.rng.choice([3, 5]))
        self._add(nn.Sequential(nn.Conv2d(3, self.c, k, stride, k // 2), self._act()),
                  f"stem {k}x{k}/{stride} ->{self.c}", self.c, stride)

    def conv_op(self, op: str) -> None:
        getattr(self, f"_{op}")()

    def _pointwise(self) -> None:
        cout = int(self.rng.choice(CHANNELS))
        self._add(nn.Sequential(nn.Conv2d(self.c, cout, 1), self._act()), f"pw {self.c}->{cout}", cout)

    def _depthwise(self) -> None:
        k, s = int(self.rng.choice([3, 5, 7])), self._stride()
        self._add(nn.Sequential(nn.Conv2d(self.c, self.c, k, s, k // 2, groups=self.c), self._act()),
                  f"dw {k}x{k}/{s} {self.c}", self.c, s)

    def _conv(self) -> None:
        k, s, cout = int(self.rng.choice([3, 5])), self._stride(), int(self.rng.choice(CHANNELS[:9]))
        self._add(nn.Sequential(nn.Conv2d(self.c, cout, k, s, k // 2), self._act()),
                  f"conv {k}x{k}/{s} {self.c}->{cout}", cout, s)

    def _grouped(self) -> None:
        groups = int(self.rng.choice([g for g in (2, 4, 8) if self.c % g == 0] or [1]))
        k, cout = int(self.rng.choice([1, 3])), self.c * int(self.rng.choice([1, 2]))
        self._add(nn.Sequential(nn.Conv2d(self.c, cout, k, 1, k // 2, groups=groups), self._act()),
                  f"gconv {k}x{k} g{groups} {self.c}->{cout}", cout)

    def _residual(self) -> None:
        hidden = int(self.rng.choice(CHANNELS))
        self._add(_Residual(self.c, hidden, self._act()), f"res {self.c}->{hidden}->{self.c}", self.c)

    def _pool(self) -> None:
        if self.hw < 4:
            self._pointwise()
            return
        k = int(self.rng.choice([2, 3]))
        is_max = self.rng.random() < 0.5
        pad = k // 2 if is_max and k == 3 else 0     # average pools stay unpadded
        pool = nn.MaxPool2d(k, 2, pad) if is_max else nn.AvgPool2d(k, 2)
        self.layers.append(pool)
        self.recipe.append(f"{type(pool).__name__} {k}/2")
        self.hw = (self.hw + 2 * pad - k) // 2 + 1

    def _shuffle(self) -> None:
        if self.c % 2:
            self._pointwise()
        else:
            self._add(_Shuffle(self.c, self.hw), f"shuffle {self.c}", self.c)

    def _concat(self) -> None:
        extra = int(self.rng.choice(CHANNELS[:8]))
        self._add(_Concat(self.c, extra), f"concat {self.c}+{extra}", self.c + extra)

    def _gate(self) -> None:
        self._add(_Gate(self.c, max(self.c // 4, 4)), f"gate {self.c}", self.c)

    def tokens(self, ops: list[str]) -> None:
        dim = self.c
        blocks = [_TokenOp(op, self.hw * self.hw, dim, self.rng) for op in ops]
        self.layers.append(_Tokens(self.hw, dim, blocks))
        self.recipe.append(f"tokens {self.hw * self.hw}x{dim}: {', '.join(ops)}")

    def head(self) -> None:
        classes = int(self.rng.choice([10, 100, 1000]))
        self._add(_Head(self.c, classes), f"head {self.c}->{classes}", classes)

    def module(self) -> nn.Module:
        return nn.Sequential(*self.layers).eval()


class _Residual(nn.Module):
    def __init__(self, c: int, hidden: int, act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, hidden, 1), act, nn.Conv2d(hidden, c, 1))

    def forward(self, x):
        return x + self.body(x)


class _Shuffle(nn.Module):
    def __init__(self, c: int, hw: int) -> None:
        super().__init__()
        self.c, self.hw = c, hw

    def forward(self, x):
        y = x.reshape(1, 2, self.c // 2, self.hw * self.hw).transpose(1, 2)
        return y.reshape(1, self.c, self.hw, self.hw)


class _Concat(nn.Module):
    def __init__(self, c: int, extra: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, extra, 1)

    def forward(self, x):
        return torch.cat([x, torch.relu(self.conv(x))], dim=1)


class _Gate(nn.Module):
    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, hidden, 1), nn.Conv2d(hidden, c, 1)

    def forward(self, x):
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


class _TokenOp(nn.Module):
    def __init__(self, op: str, tokens: int, dim: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.op, self.norm = op, nn.LayerNorm(dim)
        if op == "mlp":
            hidden = dim * int(rng.choice([2, 4]))
            self.body = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        elif op == "attention":
            self.heads = int(rng.choice([h for h in (1, 2, 4) if dim % h == 0]))
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.tokens, self.dim = tokens, dim
        elif op == "mix":
            hidden = max(tokens // 2, 4)
            self.body = nn.Sequential(nn.Linear(tokens, hidden), nn.GELU(), nn.Linear(hidden, tokens))

    def forward(self, x):
        if self.op == "norm":
            return self.norm(x)
        if self.op == "mlp":
            return x + self.body(self.norm(x))
        if self.op == "mix":
            return x + self.body(self.norm(x).transpose(1, 2)).transpose(1, 2)
        return x + self._attention(self.norm(x))

    def _attention(self, x):
        h, d = self.heads, self.dim // self.heads
        q, k, v = self.qkv(x).reshape(1, self.tokens, 3, h, d).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) * d ** -0.5, dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(1, self.tokens, self.dim))


class _Tokens(nn.Module):
    def __init__(self, hw: int, dim: int, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.hw, self.dim, self.blocks = hw, dim, nn.Sequential(*blocks)

    def forward(self, x):
        t = self.blocks(x.reshape(1, self.dim, self.hw * self.hw).transpose(1, 2))
        return t.transpose(1, 2).reshape(1, self.dim, self.hw, self.hw)


class _Head(nn.Module):
    def __init__(self, c: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))
