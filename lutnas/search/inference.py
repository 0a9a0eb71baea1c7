"""Inference-only rewrites of a supernet for the training-free proxies (NASWOT).

The proxies run tiny frozen batches through thousands of paths, where every torch op costs its set-up
more than its arithmetic; these rewrites keep each path's train-mode function (batch-statistics
BatchNorm) and remove slow set-ups. Not for training, nor for synflow, whose score sums over the
parameters these rewrites change.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn import functional


def batch_statistics(model: nn.Module) -> nn.Module:
    """Every BatchNorm normalizes by the statistics of the batch it sees, in any module mode, in place.

    That is BatchNorm in train mode, the mode the NASWOT reference scores in (an untrained network's
    running statistics are 0 / 1, so eval mode would leave the pre-activations unnormalized). The
    running buffers are dropped: nothing is written during scoring, so threads can share the modules.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.track_running_stats = False
            module.running_mean = module.running_var = module.num_batches_tracked = None
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
    """Batch-statistics BatchNorm and 1x1 convs as linear layers."""
    return pointwise_as_linear(batch_statistics(model))
