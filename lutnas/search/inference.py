"""Inference-only rewrites of a supernet for the training-free proxies (NASWOT).

The proxies run tiny frozen batches through thousands of paths, where every torch op costs its set-up
more than its arithmetic; these rewrites keep each path's function and remove ops or slow set-ups.
Not for training, nor for synflow, whose score sums over the parameters these rewrites change.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn import functional
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode conv -> BN pair of `ConvBNAct` into one biased conv, in place.

    With frozen statistics BN is an affine map per channel; folding it removes a third of the ops a
    path runs.
    """
    from lutnas.spaces.layers import ConvBNAct

    for module in model.modules():
        if isinstance(module, ConvBNAct) and isinstance(getattr(module, "bn", None), nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    return model


class PointwiseLinear(nn.Module):
    """A 1x1 convolution as `linear` over the channel axis of a channels-last tensor (a view both ways)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight = nn.Parameter(conv.weight.detach().flatten(1), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach(), requires_grad=False)

    def forward(self, x: Any) -> Any:
        return functional.linear(x.permute(0, 2, 3, 1), self.weight, self.bias).permute(0, 3, 1, 2)


def pointwise_as_linear(model: nn.Module) -> nn.Module:
    """Replace every plain 1x1 convolution (stride 1, no padding, one group) by `PointwiseLinear`, in place.

    A 1x1 conv is one small GEMM, but at the proxy's sizes oneDNN's conv call costs ~100 us of set-up
    around it: as a linear layer it ran 2-3x faster (measured here, batch 32, 1x1-8x8 maps,
    channels-last), and 1x1 convs are two of the three convs of every MBConv block.
    """
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _plain_pointwise(child):
                setattr(parent, name, PointwiseLinear(child))
    return model


def _plain_pointwise(module: nn.Module) -> bool:
    return (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.stride == (1, 1)
            and module.padding == (0, 0) and module.groups == 1 and module.dilation == (1, 1))


def for_scoring(model: nn.Module) -> nn.Module:
    """Both rewrites, BN first (folding needs the conv)."""
    return pointwise_as_linear(fold_batchnorm(model))
