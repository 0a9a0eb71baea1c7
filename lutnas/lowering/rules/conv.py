"""Convolution rules (NCHW, as Relax legalizes ONNX Conv): 1x1 as GEMM and any other kxk with input
channels to reduce over (depthwise convolution: `rules.depthwise`).

Both share one tiling, chosen from the fused function's loop extents (`n, f, y, x, rc, ry, rx`):

    parallel for (n, f_out, y_out, x_out):        # across cores
        for rc, ry, rx:                           # the reduction, outside the register tile
            for f_in (unrolled):                  # FI output channels share each input load
                for x_in (vectorized):            # VEC output pixels along the contiguous row
                    acc[f_in, x_in] += in[...] * w[...]
        epilogue (bias, activation, residual) on the same tile, vectorized

This is the register-blocked GEMM of BLIS/oneDNN's direct convolution written as TVM schedule
primitives: the accumulator tile (FI x VEC floats) becomes a small stack buffer (TVM's
PlanAndUpdateBufferAllocationLocation + CompactBufferAllocation move the conv's intermediate to the
tile loop), which LLVM keeps in vector registers. VEC is picked so that a tile is either a piece of
one row or a set of whole rows, so the epilogue's region is exact. Depthwise convolution has no
reuse across output channels (FI = 1), pads one channel plane at a time inside the parallel loop,
and tiles rows instead.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    FuncParts,
    Rule,
    accumulators_on_stack,
    analyse,
    inline_chain,
    largest_divisor,
    pow2_divisor,
    reduction_shape,
    stack_gemm_accumulators,
    static_extents,
    vector_lanes,
    vectorize_init,
)

if TYPE_CHECKING:
    import tvm


def pixel_tile(h: int, w: int, lanes: int) -> tuple[int, int]:
    """(rows, cols) of one output tile: cols is the largest power of two dividing w, up to two
    vectors (LLVM turns odd vector widths into shuffles); a narrow row stacks whole rows instead."""
    cols = pow2_divisor(w, 2 * lanes)
    rows = 1
    if cols == w:
        rows = max((r for r in range(1, h + 1) if h % r == 0 and r * w <= 2 * lanes), default=1)
    return rows, cols


def conv_parts(func: Any, channel_axis: int = 1, broadcast_last: bool = False) -> FuncParts | None:
    """A fused 2-d convolution whose output channel is spatial iterator `channel_axis` (1: NCHW,
    3: NHWC), with an elementwise epilogue; None for anything else. `broadcast_last` lets the
    epilogue end in another shape (squeeze-excite's gate multiplied over the feature map; a padded
    conv's channels sliced off before a residual add, `lowering.channel_pad`): its blocks then have
    either the conv's iteration space or the last block's."""
    shape = reduction_shape(func)
    if shape is None or shape[0] != "SSSSRRR" or shape[2] != channel_axis:
        return None
    parts = analyse(func)
    sch, consumers = parts.sch, parts.consumers
    allowed = [parts.extents[:4]]
    if broadcast_last and consumers:
        allowed.append(static_extents(sch, sch.get_loops(consumers[-1])))
    if any(static_extents(sch, sch.get_loops(block)) not in allowed for block in consumers):
        return None
    return parts


def _tile_pixels(sch: Any, y: Any, x: Any, h: int, w: int, lanes: int) -> tuple[list[Any], Any]:
    """Split (y, x) into outer loops and one inner pixel loop (fused rows or a row piece)."""
    rows, cols = pixel_tile(h, w, lanes)
    if rows > 1:
        yo, yi = sch.split(y, factors=[None, rows])
        return [yo], (yi, x)
    xo, xi = sch.split(x, factors=[None, cols])
    return [y, xo], (xi,)


def vectorize_pixels(sch: Any, inner_px: tuple[Any, ...]) -> None:
    """Vectorize the row loop; a tile of whole rows unrolls its row loop (vectorizing across a row
    boundary would index y and x with div/mod, which the vectorizer turns into gathers)."""
    if len(inner_px) > 1:
        sch.unroll(inner_px[0])
    sch.vectorize(inner_px[-1])


def finish_epilogue(sch: Any, out: Any, at: Any, lanes: int, conv: Any = None) -> None:
    """Move the output block under `at` and vectorize its innermost loop. The conv's result then
    lives only inside the tile, a stack array (`accumulators_on_stack`)."""
    if out is None:
        return
    if conv is not None:
        accumulators_on_stack(sch, conv)
    sch.reverse_compute_at(out, at, preserve_unit_loops=True)
    loops = sch.get_loops(out)
    inner = static_extents(sch, loops[-1:])[0]
    if inner > 1:
        sch.vectorize(loops[-1])


class ConvGEMM(Rule):
    """Any dense or grouped convolution with input channels to reduce over (1x1 = GEMM, kxk)."""

    name = "conv-gemm"

    def __init__(self, max_acc_vectors: int | None = None) -> None:
        self.max_acc_vectors = max_acc_vectors  # None: the target's (`stack_gemm_accumulators`)

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        parts = conv_parts(func)
        if parts is None:
            return None
        _n, f, h, w, rc, kh, kw = parts.extents
        if rc == 1 and (kh, kw) != (1, 1):
            return None  # depthwise: the other rule
        sch = parts.sch
        lanes = vector_lanes(target)
        pointwise = (kh, kw) == (1, 1) and _input_pixels(sch, parts.reduction) == h * w
        if pointwise:
            for block in parts.producers:  # 1x1 convs have no padding: the copy inlines away
                sch.compute_inline(block)
        else:
            for block in parts.producers:
                _parallel_spatial(sch, block, lanes)
                deinterleave_stride2(sch, block, w, kw)
        out = inline_chain(sch, parts.consumers)
        conv = parts.reduction
        if pointwise:
            outer_loops, inner_px, vecs = _flat_pixels(sch, conv, out, h * w, w, lanes)
            ln, lf = outer_loops
            lrc, lry, lrx = sch.get_loops(conv)[-3:]
        else:
            ln, lf, ly, lx, lrc, lry, lrx = sch.get_loops(conv)
            outer_px, inner_px = _tile_pixels(sch, ly, lx, h, w, lanes)
            rows, cols = pixel_tile(h, w, lanes)
            vecs = rows * math.ceil(cols / lanes)
        max_acc = self.max_acc_vectors or stack_gemm_accumulators(target)
        fi = largest_divisor(f, max(1, max_acc // vecs), prefer=(8, 6, 4, 3, 2))
        lfo, lfi = sch.split(lf, factors=[None, fi])
        if pointwise:
            sch.reorder(ln, lfo, inner_px[0], lrc, lry, lrx, lfi, inner_px[1])
            outer = sch.fuse(ln, lfo, inner_px[0])
            inner_px = inner_px[1:]
        else:
            sch.reorder(ln, lfo, *outer_px, lrc, lry, lrx, lfi, *inner_px)
            outer = sch.fuse(ln, lfo, *outer_px)
        sch.parallel(outer)
        sch.unroll(lfi)
        vectorize_pixels(sch, inner_px)
        finish_epilogue(sch, out, outer, lanes, conv)
        vectorize_init(sch, sch.decompose_reduction(conv, lrc))
        return sch


def _input_pixels(sch: Any, conv: Any) -> int:
    """H*W of the conv's input (its first 4-d read), to tell stride-1 1x1 convs from strided ones."""
    for region in sch.get(conv).reads:
        shape = [int(d) for d in region.source.shape]
        if len(shape) == 4:
            return shape[2] * shape[3]
    return -1


def _flat_pixels(sch: Any, conv: Any, out: Any, pixels: int, w: int, lanes: int) -> tuple[Any, Any, int]:
    """Make (y, x) one pixel axis in the conv, its intermediate and the output block, and split it
    by a power-of-two vector tile. Returns ((n, f) loops, (p_out, p_in) loops, vectors per row)."""
    sch.transform_layout(conv, ("write", 0), lambda n, f, y, x: (n, f, y * w + x))
    sch.transform_block_layout(conv, lambda n, f, y, x, rc, ry, rx: (n, f, y * w + x, rc, ry, rx))
    if out is not None:
        sch.transform_block_layout(out, lambda n, f, y, x: (n, f, y * w + x))
    ln, lf, lp = sch.get_loops(conv)[:3]
    vec = pow2_divisor(pixels, 2 * lanes)
    po, pi = sch.split(lp, factors=[None, vec])
    return (ln, lf), (po, pi), max(1, math.ceil(vec / lanes))


def deinterleave_stride2(sch: Any, pad: Any, w_out: int, kw: int) -> None:
    """For a stride-2 window, store the padded plane as (row, x % 2, x // 2): the taps at
    x = 2 * xo + rx then read contiguous memory in xo instead of every other float. Its rows and
    columns are partitioned at the border (TVM's LoopPartition, by hint), so the copy has no
    per-element bounds test: 96 channels of 64x64, k7, took 0.94 ms with the test, 0.32 without.

    The stride is read from the widths (padded = (w_out - 1) * stride + kw, up to an unused
    remainder column): at small planes a stride-1 plane can be twice the output wide, and
    de-interleaving it would turn every tap into a gather."""
    if not is_stride2_plane(sch, pad, w_out, kw):
        return
    sch.transform_layout(pad, ("write", 0), lambda n, c, y, x: (n, c, y, x % 2, x // 2))
    partition_border(sch, pad)


def is_stride2_plane(sch: Any, pad: Any, w_out: int, kw: int) -> bool:
    """Whether the padded plane `pad` feeds a stride-2 window (see `deinterleave_stride2`)."""
    shape = [int(d) for d in sch.get(pad).writes[0].source.shape]
    return len(shape) == 4 and shape[3] % 2 == 0 and w_out >= 2 and (shape[3] - kw) // (w_out - 1) == 2


def partition_border(sch: Any, pad: Any) -> None:
    """Split the padding block's row and column loops at the border (TVM's LoopPartition, by
    hint): the interior then copies without a per-element bounds test."""
    for loop in sch.get_loops(pad)[-2:]:
        sch.annotate(loop, "pragma_loop_partition_hint", 1)


def _parallel_spatial(sch: Any, block: Any, lanes: int) -> None:
    loops = sch.get_loops(block)
    ext = static_extents(sch, loops)
    outer = [lp for lp, e in zip(loops[:-1], ext[:-1], strict=True)]
    if len(outer) > 1:
        sch.parallel(sch.fuse(*outer[:2]))
    elif outer:
        sch.parallel(outer[0])

