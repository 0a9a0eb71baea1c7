"""Torch modules for block specs: conv-BN-act, inverted residuals (MobileNetV2 / ProxylessNAS / FBNet IRF
/ MobileNetV3 with squeeze-excite), channel shuffle (ShuffleNet, for FBNet's grouped 1x1 variants) and
the classifier head. Imported only when a block is built; `create_block` is the one entry point.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # blocks.py imports this module when a block is built
    from lutnas.spaces.blocks import BlockSpec

_ACTS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "hswish": lambda: nn.Hardswish(inplace=True),
}


class ConvBNAct(nn.Sequential):
    """KxK conv (padding K//2) + optional BN + activation ("none" adds no activation)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                 act: str = "relu", bn: bool = True) -> None:
        parts: list[tuple[str, nn.Module]] = [
            ("conv", nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False))
        ]
        if bn:
            parts.append(("bn", nn.BatchNorm2d(out_ch)))
        if act != "none":
            parts.append(("act", _ACTS[act]()))
        super().__init__(OrderedDict(parts))


class ChannelShuffle(nn.Module):
    """Interleave the channels of `groups` groups so grouped 1x1 convs see each other's outputs."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class SqueezeExcite(nn.Module):
    """MobileNetV3 squeeze-excite: pool, 1x1 reduce + ReLU, 1x1 expand + hard sigmoid, scale."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class InvertedResidual(nn.Module):
    """mbconv / irf: [1x1 expand, shuffle] -> KxK depthwise -> [SE] -> 1x1 project (+ identity)."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        mid, g = spec.mid_ch, spec.groups
        parts: list[tuple[str, nn.Module]] = []
        if spec.has_expand:
            parts.append(("expand", ConvBNAct(spec.in_ch, mid, 1, groups=g, act=spec.act)))
            if g > 1:
                parts.append(("shuffle", ChannelShuffle(g)))
        parts.append(("depthwise", ConvBNAct(mid, mid, spec.kernel, spec.stride, groups=mid, act=spec.act)))
        if spec.se:
            parts.append(("se", SqueezeExcite(mid, spec.se_ch)))
        parts.append(("project", ConvBNAct(mid, spec.out_ch, 1, groups=g, act="none")))
        self.body = nn.Sequential(OrderedDict(parts))
        self.residual = spec.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class Head(nn.Module):
    """1x1 conv + BN + act, global pool, optional 1x1 conv + act (no BN), linear classifier."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.conv = ConvBNAct(spec.in_ch, spec.out_ch, 1, act=spec.act)
        self.pool = nn.AdaptiveAvgPool2d(1)
        width = spec.out_ch
        self.mix = nn.Identity()
        if spec.hidden:
            self.mix = ConvBNAct(spec.out_ch, spec.hidden, 1, act=spec.act, bn=False)
            width = spec.hidden
        self.fc = nn.Linear(width, spec.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.mix(self.pool(self.conv(x))), 1))


def _conv(spec: BlockSpec) -> nn.Module:
    return ConvBNAct(spec.in_ch, spec.out_ch, spec.kernel, spec.stride, spec.groups, spec.act)


_BUILDERS: dict[str, Callable[[BlockSpec], nn.Module]] = {
    "conv": _conv,
    "mbconv": InvertedResidual,
    "irf": InvertedResidual,
    "head": Head,
}


def create_block(spec: BlockSpec) -> nn.Module:
    """The torch module for one block spec (train mode; `BlockSpec.build` switches to eval)."""
    return _BUILDERS[spec.op](spec)
