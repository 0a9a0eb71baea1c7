"""Matrix products (ONNX MatMul: a transformer's projections and MLPs, attention, token mixing).

Without this rule a `[batch..., M, K] x [batch..., K, N]` matmul fell to the row-reduction or
fallback rules: parallel rows, a scalar dot product per output. Measured on the Xeon (AVX-512),
an MLP-Mixer's token-mixing matmul (32 x 2048 by 2048 x 1024) ran at 8 GFLOP/s, a transformer's
qkv projection (1024 x 32 by 32 x 96) at 7 (`bench/kernel_vs_ort.py --onnx`, the kernel-table
bench's models at 128 px: 12.8x and 7.8x onnxruntime's time).

It is the channels-last 1x1 conv's GEMM (`rules.nhwc`) over rows instead of pixels: a register
tile of PX rows x FV columns (`nhwc.register_tile`'s cost model) accumulates over K in vector
registers, the columns of the right operand contiguous in memory (N innermost), tiles across
cores, the fused epilogue (bias, GELU's polynomial, residual add) on each tile in vectors.
Only the NN form with more than one row is taken (the right operand indexed `[..., k, j]`); a
vector-matrix product (a classifier head) and a dense layer's transposed weights (`[j, k]`) stay
with `rules.elementwise`'s row-split dot products.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    Rule,
    analyse,
    gemm_accumulators,
    inline_chain,
    stack_vectors,
    static_extents,
    uses_var,
    vector_lanes,
)
from lutnas.lowering.rules.nhwc import GemmShape, epilogue_and_init, register_tile, split_vectors

if TYPE_CHECKING:
    import tvm


class MatmulGEMM(Rule):
    """A fused `[batch..., M, K] x [batch..., K, N]` product with an elementwise epilogue."""

    name = "matmul-gemm"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        parts = analyse(func)
        if parts is None or parts.reduction is None or parts.producers:
            return None
        kinds, extents = parts.kinds, parts.extents
        if len(kinds) < 3 or kinds != "S" * (len(kinds) - 1) + "R" or not _right_operand_is_kn(parts):
            return None
        sch, mm = parts.sch, parts.reduction
        *_batch, rows, cols, depth = extents
        if rows == 1:
            return None  # a vector times a matrix: no reuse to tile for (a classifier: `rules.elementwise`)
        out = inline_chain(sch, parts.consumers)
        if out is not None and static_extents(sch, sch.get_loops(out)) != extents[:-1]:
            return None  # an epilogue over another shape: not this rule's
        lanes = vector_lanes(target)
        max_acc = gemm_accumulators(target)
        px, fv = register_tile(GemmShape(rows, cols, depth, weights_reused=rows <= cols), lanes, max_acc,
                               stack_vectors(target))
        _pack_right_operand(sch, mm, fv)
        *batch, li, lj, lk = sch.get_loops(mm)
        ro, ri = sch.split(li, factors=[None, px])
        co, ci = sch.split(lj, factors=[None, fv])
        tiles = [ro, co] if rows > cols else [co, ro]   # re-read the smaller operand from cache
        sch.reorder(*batch, *tiles, lk, ri, ci)
        outer = sch.fuse(*batch, *tiles)
        sch.parallel(outer)
        sch.unroll(ri)
        split_vectors(sch, ci, lanes, max_unroll=max_acc)
        epilogue_and_init(sch, mm, out, outer, lk, lanes, max_unroll=max_acc)
        return sch


def _pack_right_operand(sch: Any, mm: Any, fv: int) -> None:
    """Store the right operand as `[..., N / fv, K, fv]`: each column tile's K x FV strip becomes
    contiguous (in `[K, N]` its rows lie 4N bytes apart). Marked as a layout-rewrite preprocess, as
    the conv rules' weights are (`nhwc.pack_weights`): for constant weights the pipeline packs them
    once at compile time; an activation operand (attention's keys and values) is copied per call."""
    block = sch.get(mm)
    index = _right_operand_read(block)
    rank = len(block.reads[index].region)
    if fv <= 1 or rank > 4:
        return
    packed = sch.cache_read(mm, index, "global")
    maps = {2: lambda k, j: (j // fv, k, j % fv), 3: lambda b, k, j: (b, j // fv, k, j % fv),
            4: lambda a, b, k, j: (a, b, j // fv, k, j % fv)}
    sch.transform_layout(packed, ("write", 0), maps[rank])
    sch.annotate(packed, "meta_schedule.layout_rewrite_preproc", True)


def _right_operand_read(block: Any) -> int | None:
    """Index among the product block's reads of a `[..., k, j]` operand, or None."""
    j, k = block.iter_vars[-2].var, block.iter_vars[-1].var
    return next((n for n, r in enumerate(block.reads) if len(r.region) >= 2
                 and uses_var(r.region[-1].min, j) and uses_var(r.region[-2].min, k)), None)


def _right_operand_is_kn(parts: Any) -> bool:
    """Whether the product reads a `[..., i, k]` left and a `[..., k, j]` right operand."""
    block = parts.sch.get(parts.reduction)
    i, k = block.iter_vars[-3].var, block.iter_vars[-1].var
    left = any(len(r.region) >= 2 and uses_var(r.region[-1].min, k) and uses_var(r.region[-2].min, i)
               for r in block.reads)
    return left and _right_operand_read(block) is not None
