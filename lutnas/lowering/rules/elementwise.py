"""Rules for what is not a convolution: injective chains, reductions over trailing axes, and the fallback.

- `Injective`: a chain of spatial-only blocks (reshape, add, hswish, SE's channel scaling) is inlined
  into its last block, whose outer loops run across cores and whose innermost loop is vectorized.
- `RowReduction`: one reduction whose reduced axes come last (global average pooling's sum, a dense
  layer's dot products) with injective producers/consumers: parallel over the kept axes; when the
  innermost kept axis is contiguous in the output it is tiled and vectorized under the reduction,
  and a batch-1 dense layer (a classifier head) streams its weight rows in order into accumulators
  for all outputs (`_axpy_gemv`); when instead the reduced axes are long contiguous rows of the input
  (NCHW global pooling), each row is summed in `lanes` partial sums, one vector (rfactor), then the
  lanes are added; anything else is left to the fallback (a scalar reduction per output was slower).
- `Fallback`: parallelise the outermost spatial loop of every root block. Always applies, never
  changes what is computed, so it goes last.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    Rule,
    accumulators_on_stack,
    analyse,
    inline_chain,
    iter_kinds,
    largest_divisor,
    partial_outputs,
    pow2_divisor,
    root_blocks,
    static_extents,
    uses_var,
    vector_lanes,
    vectorize_init,
    vectorize_inner,
)

if TYPE_CHECKING:
    import tvm


class Injective(Rule):
    """Spatial-only functions: inline the chain, parallel outer loops, vectorized inner loop."""

    name = "injective"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        parts = analyse(func)
        if parts is None or parts.reduction is not None or not parts.producers:
            return None
        sch = parts.sch
        blocks = parts.producers
        for block in blocks[:-1]:
            try:
                sch.compute_inline(block)
            except Exception:  # noqa: BLE001 -- not inlinable (e.g. an output): schedule it alone
                schedule_spatial(sch, block, target)
        schedule_spatial(sch, blocks[-1], target)
        return sch


# Rows (elements summed per output) from which vector partial sums beat the fallback's loops. Measured
# here (1 thread, znver1 target, NCHW mean): rows of 16 / 64 took 3.4 / 8.6 us in the fallback vs 36 / 31
# with partial sums; rows of 256 / 1024 took 28 / 65 us vs 6.4 / 9.9. The scalar reduction this rule
# used before was slower than the fallback at every size (40-68 us).
LONG_ROW = 128

# A batch-1 dense layer with at most this many outputs keeps all of them in accumulators (16 KB):
# the axpy order below then reads every weight row once.
GEMV_MAX_OUTPUTS = 4096
# Weight rows summed per pass over the accumulators: one load and store of each accumulator per 4
# FMAs (1280x1000 head, 1 thread: 0.66 ms with the output tile outside the reduction, 0.38 ms with
# 1 row, 0.24 ms with 4, 0.28 ms with 8).
GEMV_ROWS = 4
# Parts a dense layer's rows are split into (`_axpy_gemv`): as many cores as may run it, a power of two.
GEMV_PARTS = 8


class RowReduction(Rule):
    """One reduction over trailing axes (pooling, dense) between injective blocks."""

    name = "row-reduction"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        parts = analyse(func)
        if parts is None or parts.reduction is None:
            return None
        kinds = parts.kinds
        n_spatial = len(kinds) - len(kinds.lstrip("S"))
        if n_spatial == 0 or "S" in kinds[n_spatial:] or kinds == "SSSSRRR":
            return None  # SSSSRRR is a 2-d convolution: the conv rules' business
        sch = parts.sch
        lanes = vector_lanes(target)
        for block in parts.producers:
            try:
                sch.compute_inline(block)
            except Exception:  # noqa: BLE001 -- keep it as its own parallel loop nest
                schedule_spatial(sch, block, target)
        out = inline_chain(sch, parts.consumers)
        red = parts.reduction
        loops = sch.get_loops(red)
        spatial, reduce_ = loops[:n_spatial], loops[n_spatial:]
        ext = parts.extents[:n_spatial]
        inner = vector_tile(ext[-1], lanes) if _contiguous_last(sch, red, n_spatial) else 1
        if inner == 1 and _rows_contiguous(sch, red, n_spatial, parts.extents[n_spatial:], lanes):
            if math.prod(parts.extents[n_spatial:]) < LONG_ROW:
                return None   # short rows: the fallback's plain loops, which LLVM vectorizes, were faster
            return lane_partial_sums(sch, red, out, spatial, reduce_, ext, lanes, target)
        if inner == 1:
            return None   # no contiguous vector axis: a scalar reduction per output lost to the fallback
        if math.prod(ext[:-1]) == 1 and ext[-1] <= GEMV_MAX_OUTPUTS:
            return _axpy_gemv(sch, red, out, reduce_, inner, lanes)
        jo, ji = sch.split(spatial[-1], factors=[None, inner])
        sch.reorder(*spatial[:-1], jo, *reduce_, ji)
        outer = sch.fuse(*spatial[:-1], jo) if n_spatial > 1 else jo
        sch.vectorize(ji)
        sch.parallel(outer)
        if out is not None:
            if static_extents(sch, sch.get_loops(out)) == ext:
                accumulators_on_stack(sch, red)
                sch.reverse_compute_at(out, outer, preserve_unit_loops=True)
                vectorize_inner(sch, out, lanes)
            else:
                schedule_spatial(sch, out, target)
        vectorize_inner(sch, sch.decompose_reduction(red, reduce_[0]), lanes)
        return sch


def _axpy_gemv(sch: Any, red: Any, out: Any, reduce_: list[Any], inner: int, lanes: int) -> Any:
    """y[0:n] += x[k] * W[k, 0:n] for each k in turn (and y[0:n] += X[k, 0:n]: a channels-last global
    pooling has the same shape): a batch-1 dense layer whose weight rows are
    contiguous reads each row once, in order (a classifier head's 5-8 MB of weights streams from
    memory), into accumulators that stay in L1. Putting the output tile outside the reduction
    instead reads a few floats of every row per tile, one cache line per k.

    The rows are split into up to `GEMV_PARTS` contiguous parts (`rfactor`), one per parallel
    iteration, each summing into its own copy of y; a last loop adds the copies. Splitting the
    outputs across cores instead gave every core a strided half of each row, and none at all to a
    second core when n / lanes is odd: the 1000-class heads of all three spaces ran 270 us at 1 and
    at 2 threads (Xeon); split by rows, 137 us at 2 threads (1984 x 1000), 61 us (1280 x 1000)."""
    k = sch.fuse(*reduce_) if len(reduce_) > 1 else reduce_[0]
    depth = int(sch.get(k).extent)
    parts = largest_divisor(depth, GEMV_PARTS)
    copies = partial_outputs(sch, red, k, parts, inner, lanes)   # y = the sum of the copies
    *unit, j, part, rows_k = sch.get_loops(copies)
    kb, ku = sch.split(rows_k, factors=[None, largest_divisor(depth // parts, GEMV_ROWS)])
    jm, ji = sch.split(j, factors=[None, inner])
    sch.reorder(part, *unit, kb, jm, ku, ji)
    sch.parallel(sch.fuse(part, *unit) if unit else part)
    sch.unroll(ku)
    sch.vectorize(ji)
    vectorize_inner(sch, sch.decompose_reduction(copies, kb), lanes)
    if out is not None:
        vectorize_inner(sch, out, lanes)
    return sch


class Fallback(Rule):
    """Every root block on its own: spatial-only blocks run their outer loops across cores with
    the innermost loop vectorized; blocks with a reduction get their outer spatial loops in
    parallel. Never changes what is computed, applies to any function, so it goes last."""

    name = "fallback"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        found = root_blocks(func)
        if found is None:
            return None
        sch, blocks = found
        for block in blocks:
            kinds = iter_kinds(sch, block) or ""
            loops = sch.get_loops(block)
            if not kinds.startswith("S") or len(loops) != len(kinds):
                continue
            if "R" not in kinds and static_extents(sch, loops) is not None:
                schedule_spatial(sch, block, target)
                continue
            n_spatial = len(kinds) - len(kinds.lstrip("S"))
            sch.parallel(sch.fuse(*loops[: min(2, n_spatial)]) if n_spatial > 1 else loops[0])
        return sch


def vector_tile(n: int, lanes: int) -> int:
    """A divisor of n made of 4, 2 or 1 whole vectors (a cache line or four of floats), else the
    largest power of two dividing n: the largest power of two up to four vectors. Never 3 vectors:
    LLVM legalises a 48-float vector type on AVX-512 into code 3-7x slower than one vector at a time
    (global mean pools of 144, 336, 480 and 672 channels, alone: 9-24 us against 3-5 us;
    `docs/measurements/pool-tiles-2026-12-05.md`)."""
    return pow2_divisor(n, 4 * lanes)


def schedule_spatial(sch: Any, block: Any, target: tvm.target.Target) -> None:
    """A spatial block's outer loops fused and run across cores, its innermost loop vectorized."""
    lanes = vector_lanes(target)
    loops = sch.get_loops(block)
    if len(loops) > 2:  # keep at least one loop outside the vector loop to run in parallel
        sch.fuse(*loops[:-1])
    vectorize_inner(sch, block, lanes, parallel_outer=True)


def _contiguous_last(sch: Any, block: Any, n_spatial: int) -> bool:
    """Whether the block's last spatial iterator indexes the last axis of every buffer it reads
    (with stride 1), so a vector along it loads contiguous memory."""
    stmt = sch.get(block)
    var = stmt.iter_vars[n_spatial - 1].var
    for region in stmt.reads:
        if not region.region:
            continue
        last = region.region[-1].min
        if any(var.same_as(v) for v in _vars_in(region.region[:-1])):
            return False
        if not (hasattr(last, "same_as") and last.same_as(var)) and uses_var(last, var):
            return False
    return True


def _vars_in(ranges: Any) -> list[Any]:
    from tvm.tirx.analysis import undefined_vars

    return [v for rng in ranges for v in undefined_vars(rng.min)]


def _rows_contiguous(sch: Any, block: Any, n_spatial: int, reduce_ext: list[int], lanes: int) -> bool:
    """Whether the reduced iterators index, in order, the trailing axes of every buffer the block
    reads (each output then sums one contiguous row) and the row holds whole vectors."""
    stmt = sch.get(block)
    reduce_vars = [iv.var for iv in stmt.iter_vars[n_spatial:]]
    row = math.prod(reduce_ext)
    if row % lanes or row < 2 * lanes:
        return False
    for region in stmt.reads:
        tail = region.region[-len(reduce_vars):] if len(region.region) >= len(reduce_vars) else []
        if len(tail) != len(reduce_vars):
            return False
        for rng, var in zip(tail, reduce_vars, strict=True):
            if not (hasattr(rng.min, "same_as") and rng.min.same_as(var)):
                return False
    return True


def lane_partials(sch: Any, row: Any, kept_axes: int, lanes: int) -> Any:
    """A reduction over the loop `row` as `lanes` partial results (an rfactor block, its lane axis
    after the `kept_axes` outer ones), which the reduction block then reduces. rfactor wants the
    reduction first under its outermost loop: call it before any `compute_at` of the block."""
    _, lane = sch.split(row, factors=[None, lanes])
    return sch.rfactor(lane, factor_axis=kept_axes)


def vector_partials(sch: Any, partial: Any, steps: Any, lane: Any) -> None:
    """The partial results as one vector on the stack: `lane` (innermost, under the row's `steps`)
    vectorized, contiguous loads into one vector accumulator, zeroed before `steps`."""
    accumulators_on_stack(sch, partial)
    sch.vectorize(lane)
    vectorize_init(sch, sch.decompose_reduction(partial, steps))


def lane_partial_sums(sch: Any, red: Any, out: Any, spatial: list[Any], reduce_: list[Any], ext: list[int],
                       lanes: int, target: tvm.target.Target) -> Any:
    """Sum each contiguous row as `lanes` vector partial sums (an rfactor block kept on the stack),
    then the lanes: a scalar sum is one dependent add per element (latency bound), this is one
    vector add per `lanes` elements."""
    row = sch.fuse(*reduce_) if len(reduce_) > 1 else reduce_[0]
    partial = lane_partials(sch, row, len(spatial), lanes)   # keeps the loops (kept axes, row, lane)
    outer = sch.fuse(*spatial) if len(spatial) > 1 else spatial[0]
    sch.parallel(outer)
    *_, steps, lane = sch.get_loops(partial)
    vector_partials(sch, partial, steps, lane)
    if out is not None:
        if static_extents(sch, sch.get_loops(out)) == ext:
            accumulators_on_stack(sch, red)
            sch.reverse_compute_at(out, outer, preserve_unit_loops=True)
        else:
            schedule_spatial(sch, out, target)
    return sch
