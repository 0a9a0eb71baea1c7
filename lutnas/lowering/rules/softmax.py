"""Softmax over the last axis (attention's scores): four parallel, vectorized passes over the rows.

Legalized, a softmax is five root blocks (row max, x - max, exp, row sum, divide), which no other
rule takes (they take at most one reduction), so it ran as the fallback's loops: on the Xeon a
2 x 1024 x 1024 attention softmax took 4.7 ms, 0.9 GFLOP/s (`lutnas profile --onnx` of a ViT-style
model at 128 px), a third of the model, most of it in the two reductions' dependent scalar chains
(one max or add per element, each waiting for the previous one). Here each reduction keeps one
vector of partial results (`elementwise.lane_partial_sums`, as pooling rows do), the subtraction is
inlined into the exp, and the exp and divide passes are vectorized; every pass runs rows across
cores. The rule reads the block structure, not the block names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import Rule, iter_kinds, root_blocks, static_extents, vector_lanes
from lutnas.lowering.rules.elementwise import lane_partial_sums, schedule_spatial

if TYPE_CHECKING:
    import tvm


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
        for block in (row_max, row_sum):
            loops = sch.get_loops(block)
            extents = static_extents(sch, loops)
            if extents is None or extents[-1] % lanes or extents[-1] < 2 * lanes:
                sch.parallel(sch.fuse(*loops[:-1]) if len(loops) > 2 else loops[0])
            else:
                lane_partial_sums(sch, block, None, loops[:-1], loops[-1:], extents[:-1], lanes, target)
        for block in (steps[-1], norm):
            schedule_spatial(sch, block, target)
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
