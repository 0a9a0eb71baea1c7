"""Depthwise convolution (NCHW): one input channel per output channel, a kxk window.

Two schedules, by how the plane's rows compare with a vector:

- rows (wide planes): one channel per parallel iteration; its padded plane is built once (a stack
  array; for a stride-2 window also split into even and odd columns, `_deinterleave_after_padding`),
  then a register tile of `rows` output rows x `cols` pixels (a power of two dividing the
  width) accumulates over the window, so several independent vector FMA chains are in flight.
- channels (planes at most half a vector wide, the 8x8 and 4x4 of a network's last stages): a row
  vector would leave most lanes idle, so a vector holds `lanes` channels instead. Each parallel
  iteration takes a block of `lanes` channels and copies its padded planes and its window weights
  into stack arrays with the channel innermost (the NCHWc layout oneDNN and onnxruntime's MLAS use
  for the whole network, here only inside the kernel); every tap is then one contiguous vector load
  and one FMA per output pixel, and any stride is a plain offset. Measured here (1 thread, AVX-512):
  1152 channels of 4x4, k5: 0.098 -> 0.031 ms; 576 of 8x8, k7: 0.10 -> 0.06 ms; a 16x16 plane
  was slower this way (0.06 -> 0.10 ms), hence the width bound.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    Rule,
    accumulators_on_stack,
    depthwise_accumulators,
    inline_chain,
    largest_divisor,
    pow2_divisor,
    vector_lanes,
    vectorize_init,
)
from lutnas.lowering.rules.conv import (
    conv_parts,
    deinterleave_stride2,
    finish_epilogue,
    is_stride2_plane,
    partition_border,
    vectorize_pixels,
)

if TYPE_CHECKING:
    import tvm


class DepthwiseConv(Rule):
    """Depthwise convolution: row vectors on wide planes, channel vectors on narrow ones."""

    name = "depthwise"

    def __init__(self, max_acc_vectors: int | None = None) -> None:
        self.max_acc_vectors = max_acc_vectors  # None: the target's (`depthwise_accumulators`)

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        parts = conv_parts(func)
        if parts is None:
            return None
        _n, channels, h, w, rc, kh, kw = parts.extents
        if rc != 1 or (kh, kw) == (1, 1):
            return None
        lanes = vector_lanes(target)
        max_acc = self.max_acc_vectors or depthwise_accumulators(target)
        if 2 * w <= lanes and channels % lanes == 0 and w <= max_acc:
            return _channel_vectors(parts, lanes, max_acc)
        sch = parts.sch
        out = inline_chain(sch, parts.consumers)
        conv = parts.reduction
        ln, lf, ly, lx, lrc, lry, lrx = sch.get_loops(conv)
        chan = sch.fuse(ln, lf)
        cols = pow2_divisor(w, 2 * lanes)
        per_row = math.ceil(cols / lanes)
        rows = largest_divisor(h, max(1, max_acc // per_row))
        lyo, lyi = sch.split(ly, factors=[None, rows])
        lxo, lxi = sch.split(lx, factors=[None, cols])
        sch.reorder(chan, lyo, lxo, lrc, lry, lrx, lyi, lxi)
        sch.parallel(chan)
        sch.unroll(lrx)
        vectorize_pixels(sch, (lyi, lxi))
        for block in parts.producers:  # pad one channel plane per parallel iteration
            sch.compute_at(block, chan, preserve_unit_loops=True)
            sch.set_scope(block, 0, "local")
            if w != lanes and is_stride2_plane(sch, block, w, kw):
                _deinterleave_after_padding(sch, block, conv)
            else:
                deinterleave_stride2(sch, block, w, kw)
        finish_epilogue(sch, out, lxo, lanes, conv)
        vectorize_init(sch, sch.decompose_reduction(conv, lrc))
        return sch


def _deinterleave_after_padding(sch: Any, pad: Any, conv: Any) -> None:
    """Stride 2 in two copies: the padded plane as it is (row copies LLVM vectorizes once the border
    is split off), then its even and odd columns apart, one parity after the other (a loop of
    stride-2 loads and contiguous stores, which LLVM also vectorizes). Writing the de-interleaved
    plane straight from the input instead is one scalar store per element. Measured here
    (AVX-512): 96 channels of 64x64, k7: 0.56 -> 0.37 ms; 144 of 56x56, k3: 0.32 -> 0.22 ms; but
    144 of 32x32 (output rows of exactly one vector): 0.048 -> 0.066 ms, so rows of one vector keep
    the single copy."""
    partition_border(sch, pad)
    plane = sch.get(pad).writes[0].source
    read = next(i for i, r in enumerate(sch.get(conv).reads) if r.source.same_as(plane))
    split = sch.cache_read(conv, read, "local")
    sch.transform_layout(split, ("write", 0), lambda n, c, y, x: (n, c, y, x % 2, x // 2))
    xo, parity = sch.split(sch.get_loops(split)[-1], factors=[None, 2])
    sch.reorder(parity, xo)


def _channel_vectors(parts: Any, lanes: int, max_acc: int) -> Any:
    """`lanes` channels per vector: padded planes, weights and accumulators kept channel-innermost
    on the stack for each block of channels (see the module docstring)."""
    sch = parts.sch
    _n, _f, h, w, _rc, _kh, _kw = parts.extents
    out = inline_chain(sch, parts.consumers)
    conv = parts.reduction
    ln, lf, ly, lx, lrc, lry, lrx = sch.get_loops(conv)
    fo, fi = sch.split(lf, factors=[None, lanes])
    rows = max(r for r in range(1, h + 1) if h % r == 0 and r * w <= max_acc)
    yo, yi = sch.split(ly, factors=[None, rows])
    sch.reorder(ln, fo, yo, lrc, lry, lrx, yi, lx, fi)
    block = sch.fuse(ln, fo)
    sch.parallel(block)
    sch.unroll(yi)
    sch.unroll(lx)
    sch.vectorize(fi)
    accumulators_on_stack(sch, conv)
    _channel_innermost(sch, conv, ("write", 0), lanes)
    for pad in parts.producers:
        sch.compute_at(pad, block, preserve_unit_loops=True)
        sch.set_scope(pad, 0, "local")
        _channel_innermost(sch, pad, ("write", 0), lanes)
        *_, c, y, x = sch.get_loops(pad)
        sch.reorder(y, x, c)
        for loop in (y, x):  # the border apart: the interior copies without a bounds test
            sch.annotate(loop, "pragma_loop_partition_hint", 1)
    weights = sch.cache_read(conv, _weight_read(sch, conv, parts.extents[5:]), "local")
    sch.compute_at(weights, block, preserve_unit_loops=True)
    sch.transform_layout(weights, ("write", 0), lambda c, i, y, x: (c // lanes, i, y, x, c % lanes))
    *_, c, i, y, x = sch.get_loops(weights)
    sch.reorder(i, y, x, c)
    if out is not None:  # the epilogue vectorized over the channels too (hswish divides)
        sch.reverse_compute_at(out, block, preserve_unit_loops=True)
        *_, c, y, x = sch.get_loops(out)
        sch.reorder(y, x, c)
        sch.vectorize(c)
    init = sch.decompose_reduction(conv, lrc)
    sch.vectorize(sch.get_loops(init)[-1])
    return sch


def _weight_read(sch: Any, conv: Any, window: list[int]) -> int:
    """Index of the conv's read of its (C, 1, kh, kw) weights."""
    for i, region in enumerate(sch.get(conv).reads):
        shape = [int(d) for d in region.source.shape]
        if len(shape) == 4 and shape[1] == 1 and shape[2:] == list(window):
            return i
    raise ValueError("no depthwise weight read")  # apply_rules treats this as "not mine"


def _channel_innermost(sch: Any, block: Any, buffer: tuple[str, int], lanes: int) -> None:
    sch.transform_layout(block, buffer, lambda n, c, y, x: (n, c // lanes, y, x, c % lanes))
