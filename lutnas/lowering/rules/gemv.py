"""A 1x1 convolution over one pixel: the squeeze-excite convolutions and the feature-mix layer.

At one output pixel a pointwise convolution is a matrix-vector product over OIHW weights whose
rows (one output channel's input weights) are contiguous, and so is the input vector. The conv
rules vectorize along pixels, of which there is one here, so they would run it scalar; this rule
sums each weight row in vector partial sums instead (`lane_partial_sums`, as for pooling rows).

Squeeze-excite's second convolution is fused with the gate it feeds (hard-sigmoid, then the
multiply that broadcasts the gate over the feature map): that last block has the feature map's
shape, not the conv's, so it is scheduled as its own parallel vector loop and the gate's
elementwise steps are inlined into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import Rule, analyse, pow2_divisor, reduction_shape, vector_lanes
from lutnas.lowering.rules.elementwise import lane_partial_sums

if TYPE_CHECKING:
    import tvm


class PixelGEMV(Rule):
    """A 1x1 convolution with a 1x1 output whose input channels fill vectors of at least 4 floats."""

    name = "pixel-gemv"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        shape = reduction_shape(func)
        if shape is None or shape[0] != "SSSSRRR" or shape[2] != 1:
            return None  # (NHWC: the channels-last conv rule vectorizes over output channels)
        _n, _f, h, w, rc, kh, kw = shape[1]
        lanes = pow2_divisor(rc, vector_lanes(target))  # 168 input channels: 8-float partial sums
        if (h, w, kh, kw) != (1, 1, 1, 1) or lanes < 4 or rc < 2 * lanes:
            return None
        parts = analyse(func)
        sch = parts.sch
        for block in parts.producers:
            sch.compute_inline(block)
        for block in parts.consumers[:-1]:
            sch.compute_inline(block)
        out = parts.consumers[-1] if parts.consumers else None
        loops = sch.get_loops(parts.reduction)
        return lane_partial_sums(sch, parts.reduction, out, loops[:4], loops[4:], parts.extents[:4], lanes, target)
