"""Softmax over the last axis (attention's scores): vectorized passes over the rows, row by row.

Legalized, a softmax is five root blocks (row max, x - max, exp, row sum, divide), which no other
rule takes (they take at most one reduction), so it ran as the fallback's loops: on the Xeon a
2 x 1024 x 1024 attention softmax took 4.7 ms, 0.9 GFLOP/s (`lutnas profile --onnx` of a ViT-style
model at 128 px), a third of the model, most of it in the two reductions' dependent scalar chains
(one max or add per element, each waiting for the previous one). Here each reduction keeps one
vector of partial results (`elementwise.lane_partial_sums`, as pooling rows do), the subtraction is
inlined into the exp, and the exp and divide passes are vectorized; a tensor beyond
`ROW_BY_ROW_BYTES` runs all four passes of a row before the next row (`_row_by_row`), rows across
cores. The rule reads the block structure, not the block names.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    Rule,
    iter_kinds,
    root_blocks,
    static_extents,
    vector_lanes,
    vectorize_inner,
)
from lutnas.lowering.rules.elementwise import (
    lane_partial_sums,
    lane_partials,
    schedule_spatial,
    vector_partials,
)

if TYPE_CHECKING:
    import tvm


# Tensors from this size on are normalised row by row (`_row_by_row`); smaller ones, which stay in
# L2 between passes, pass by pass: a 4 x 64 x 64 softmax took 11 us row by row against 9 us in passes
# (each row's exponentials are a 4 KB buffer, one workspace allocation per row).
ROW_BY_ROW_BYTES = 1 << 20


class RowSoftmax(Rule):
    """Row max, elementwise steps, row sum, elementwise normalisation, all over the same rows."""

    name = "row-softmax"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        found = root_blocks(func)
        if found is None or not _is_softmax(*found):
            return None
        sch, blocks = found
        lanes = vector_lanes(target)
        row_max, *steps, row_sum, norm = blocks
        for block in steps[:-1]:
            sch.compute_inline(block)         # x - max into the exp
        extents = static_extents(sch, sch.get_loops(norm))
        vector_rows = extents is not None and extents[-1] % lanes == 0 and extents[-1] >= 2 * lanes
        if vector_rows and len(extents) >= 2 and math.prod(extents) * 4 >= ROW_BY_ROW_BYTES:
            return _row_by_row(sch, row_max, steps[-1], row_sum, norm, lanes)
        for block in (row_max, row_sum):
            loops = sch.get_loops(block)
            if vector_rows:
                lane_partial_sums(sch, block, None, loops[:-1], loops[-1:], extents[:-1], lanes, target)
            else:
                sch.parallel(sch.fuse(*loops[:-1]) if len(loops) > 2 else loops[0])
        for block in (steps[-1], norm):
            schedule_spatial(sch, block, target)
        return sch


def _row_by_row(sch: Any, row_max: Any, exp: Any, row_sum: Any, norm: Any, lanes: int) -> Any:
    """Every pass of one row before the next row (rows across cores): the row's exponentials stay in
    L1 between the sum and the normalisation. Pass by pass over the whole tensor, a 2 x 1024 x 1024
    attention softmax streamed its 8 MB five times through memory: 1.8 ms on the Xeon, where reading
    it once and writing it once takes ~0.65 ms (`docs/measurements/pool-tiles-2026-12-05.md`). The
    two reductions keep one vector of partial results each (`elementwise.lane_partials`)."""
    partials = []
    for block in (row_max, row_sum):
        *kept, row = sch.get_loops(block)
        partials.append(lane_partials(sch, row, len(kept), lanes))
    loops = sch.get_loops(norm)
    rows = sch.fuse(*loops[:-1]) if len(loops) > 2 else loops[0]
    sch.parallel(rows)
    for block in (row_sum, partials[1], exp, row_max, partials[0]):   # consumers first
        sch.compute_at(block, rows, preserve_unit_loops=True)
    for partial in partials:
        _, lane, *_, steps = sch.get_loops(partial)   # compute_at put the lane loop outside
        sch.reorder(steps, lane)
        vector_partials(sch, partial, steps, lane)
    for block in (exp, norm):
        vectorize_inner(sch, block, lanes)
    return sch


def _is_softmax(sch: Any, blocks: list[Any]) -> bool:
    """[reduce, spatial..., reduce, spatial] over one iteration space, the reductions' last axis."""
    if len(blocks) < 4:
        return False
    kinds = [iter_kinds(sch, b) for b in blocks]
    if any(k is None for k in kinds):
        return False
    n = len(kinds[-1])
    reduce_ = "S" * (n - 1) + "R"
    middle = kinds[1:-2]
    return (n >= 2 and kinds[0] == kinds[-2] == reduce_ and kinds[-1] == "S" * n and bool(middle)
            and all(k == "S" * n for k in middle))
