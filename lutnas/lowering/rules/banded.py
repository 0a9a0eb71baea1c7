"""An inverted residual's three convolutions in one kernel, band of rows by band of rows.

`dw_pw_fusion` merges an expansion 1x1 whose output is at least `MIN_EXPANDED_BYTES` into the fused
depthwise + 1x1 that reads it. Apart, the expansion writes its whole plane (96 channels at 112x112:
4.8 MB) and the depthwise reads it back from L3, 17% slower a row at stride 1 and 31% at stride 2
than from L2 (`docs/measurements/fused-depthwise-probes-2026-12-05.md`). Here each band of output
rows first computes the expanded rows its window needs (the band's rows plus the halo, which the
next band computes again) into a buffer of at most `BAND_BYTES`, then runs the depthwise + 1x1 of
`rules.nhwc.ChannelsLastDepthwisePointwise` on it. Bands go across cores.

Networks, 9 archs, 224 px, against the expansion apart (`bench/fusion_ab.py --rewrite
expand-bands --thresholds ...`, 7-9 rounds): 1 thread, bands of <= 1 MB x0.977 / x0.980, 1.5 MB
x0.973 / x0.980, 2 MB x0.982, 4 MB x0.998, 512 KB x0.999 (the halo recomputed too often); 2 threads,
1.5 MB x0.990 twice, 1 MB x0.994 (`docs/measurements/inmodel-probes-2026-12-06.md`).

Since revision 44 (`ROLLING_EXPANSION`) a band is a core's share of the rows, and the expansion is
computed row by row into a ring of the depthwise window's rows (`roll_expansion`): each output row
computes only the expanded rows its window adds (its stride's worth), into the slots of the rows no
window needs again. No halo is recomputed and the ring (5 rows of 112 x 96 channels: 215 KB) stays in
a 512 KB L2, where a band of 1.5 MB lived in L3 (AMD EPYC, znver3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    Rule,
    gemm_accumulators,
    inline_chain,
    kinded_blocks,
    replace_loop,
    row_stride,
    stack_vectors,
    static_extents,
    target_cores,
    vector_lanes,
)
from lutnas.lowering.rules.nhwc import (
    GemmShape,
    depthwise_accumulators,
    depthwise_under_tile,
    epilogue_and_init,
    fused_depthwise_channels,
    fused_pixels,
    pack_weights,
    pointwise_subtile,
    prefetch_each_step,
    register_tile,
    split_vectors,
    stack_gemm_accumulators,
    tile_pointwise,
)

if TYPE_CHECKING:
    import tvm

BAND_BYTES = 1536 * 1024
# Whether the expansion runs row by row into a ring of the window's rows (`roll_expansion`), one band per
# core; off: bands of at most `BAND_BYTES` expanded rows, each computing its halo again (revision 43 and
# before). Measured alone, 1 thread, in-model (znver3, `docs/measurements/rolling-expansion-2026-12-07.md`):
# stride-2 blocks on 112x112 planes x0.80-0.85, fbnet's 112x112 k5 e6 block x0.92, 56x56 blocks x0.96-0.98.
ROLLING_EXPANSION = True
# The window from which a banded kernel's depthwise partitions its pixel tiles into border and interior
# tiles (`depthwise_under_tile`); a fused depthwise + 1x1 alone starts at 5x5 (`PARTITION_MIN_WINDOW`:
# its 3x3s lost x1.02-1.04 partitioned, again x1.042 on fbnet's 56x56 k3 e3 block this revision).
# Banded 3x3 blocks alone, 1 thread, in-model (znver3, `docs/measurements/banded-3x3-2026-12-07.md`),
# partitioned / not: 56x56 k3 e4 and e6 x0.78-0.79, 112x112 stride 2 x0.95-1.02, 112x112 e3 and e6
# x1.015 and x0.982. Revision 46; None: never, 5: as before.
BANDED_PARTITION_MIN_WINDOW: int | None = 3


def band_rows(out_rows: int, row_bytes: int, window: int, stride: int, cores: int) -> int:
    """Output rows per band: the most that divide `out_rows` into a multiple of `cores` bands whose
    expanded rows (`(rows - 1) * stride + window` of `row_bytes` each) fit `BAND_BYTES`; at least 1."""
    fits = [b for b in range(1, out_rows + 1)
            if out_rows % b == 0 and (out_rows // b) % cores == 0 and ((b - 1) * stride + window) * row_bytes <= BAND_BYTES]
    return max(fits, default=1)


def core_rows(out_rows: int, cores: int) -> int:
    """Output rows per band when each band rolls its expansion (`ROLLING_EXPANSION`): the most that
    divide `out_rows` into a multiple of `cores` bands (one band per core, where they divide)."""
    return max((b for b in range(1, out_rows + 1) if out_rows % b == 0 and (out_rows // b) % cores == 0), default=1)


class ChannelsLastExpandDepthwisePointwise(Rule):
    """Expansion 1x1 -> depthwise -> 1x1 (one function, `dw_pw_fusion.EXPAND_INTO_BANDS`), channels-last."""

    name = "nhwc-expand-depthwise-pointwise"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        found = kinded_blocks(func)
        if found is None:
            return None
        sch, blocks, kinds = found
        convs = [i for i, k in enumerate(kinds) if k == "SSSSRRR"]
        if len(convs) != 3 or any(i not in convs and "R" in k for i, k in enumerate(kinds)):
            return None
        ex, dw, pw = (blocks[i] for i in convs)
        ee, de, pe = (static_extents(sch, sch.get_loops(b)) for b in (ex, dw, pw))
        if (None in (ee, de, pe) or ee[4:6] != [1, 1] or de[6] != 1 or de[4:6] == [1, 1] or pe[4:6] != [1, 1]
                or de[1:3] != pe[1:3] or convs[1] - convs[0] < 2 or convs[2] - convs[1] < 2):
            return None
        lanes = vector_lanes(target)
        stride = row_stride(sch, dw) or 1
        cores = target_cores(target) or 2
        rows = (core_rows(de[1], cores) if ROLLING_EXPANSION
                else band_rows(de[1], ee[2] * ee[3] * 4, de[4], stride, cores))
        bands = _project_in_bands(sch, blocks, convs, pe, de, rows, target)
        row_loop = sch.get_loops(blocks[convs[2]])[1]   # the output rows of a band
        expanded, rows_at = _expand_per_band(sch, blocks, convs, ee, row_loop if ROLLING_EXPANSION else bands,
                                             lanes, target)
        if ROLLING_EXPANSION:
            roll_expansion(sch, expanded, (bands, row_loop, rows_at), (de[4], stride))
        return sch


def _project_in_bands(sch: Any, blocks: list[Any], convs: list[int], pe: list[int], de: list[int], rows: int,
                      target: tvm.target.Target) -> Any:
    """The depthwise + 1x1 as `ChannelsLastDepthwisePointwise` schedules them, rows in bands of `rows`
    across cores; returns the band loop."""
    lanes, acc = vector_lanes(target), stack_gemm_accumulators(target)
    _, d_i, p_i = convs
    dw, pw = blocks[d_i], blocks[p_i]
    px = fused_pixels(pe[2], pe[3], lanes, acc, depthwise_accumulators(target), depth=pe[6])
    sub, fv = pointwise_subtile(px, pe[3], pe[6], lanes, acc)
    pack_weights(sch, pw, fv)
    sch.compute_inline(blocks[d_i - 1])      # the depthwise's padding: read in place
    out = inline_chain(sch, blocks[p_i + 1:])
    for block in blocks[d_i + 1:p_i - 1]:
        sch.compute_inline(block)
    tile = blocks[p_i - 1]                   # the depthwise's output as the 1x1 reads it
    bands, xo, fo, first_reduce = tile_pointwise(sch, pw, px, fv, lanes, band_rows=rows, subtile=sub)
    epilogue_and_init(sch, pw, out, fo, first_reduce, lanes, max_unroll=acc)
    depthwise_under_tile(sch, dw, tile, xo, fused_depthwise_channels(de[3], px, target), lanes,
                         BANDED_PARTITION_MIN_WINDOW)
    return bands


def _expand_per_band(sch: Any, blocks: list[Any], convs: list[int], ee: list[int], at: Any, lanes: int,
                     target: tvm.target.Target) -> tuple[Any, Any]:
    """The expansion computed under the loop `at` (a band: its rows and the window's halo; an output
    row: the window's rows), as a 1x1 over rows; returns (the block writing the expanded rows, its
    loop over those rows)."""
    e_i, d_i, _ = convs
    ex = blocks[e_i]
    max_acc = gemm_accumulators(target)
    px, fv = register_tile(GemmShape(ee[2], ee[3], ee[6], True), lanes, max_acc, stack_vectors(target))
    pack_weights(sch, ex, fv)
    for block in blocks[:e_i]:               # a 1x1's "padding" is a plain copy: read in place
        sch.compute_inline(block)
    out = inline_chain(sch, blocks[e_i + 1:d_i - 1])
    sch.compute_at(out, at, preserve_unit_loops=True)
    sch.compute_at(ex, at, preserve_unit_loops=True)
    *_, ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(ex)
    xo, xi = sch.split(lx, factors=[None, px])
    fo, fi = sch.split(lf, factors=[None, fv])
    sch.reorder(ln, ly, xo, fo, lry, lrx, lrc, xi, fi)
    sch.unroll(xi)
    split_vectors(sch, fi, lanes, max_unroll=max_acc)
    epilogue_and_init(sch, ex, out, fo, lry, lanes, max_unroll=max_acc)
    return out, ly


def roll_expansion(sch: Any, expanded: Any, loops: tuple[Any, Any, Any], window: tuple[int, int]) -> None:
    """Make the expansion computed under each output row a ring (`loops`: the band loop, its output
    rows, the expansion's loop over the window's rows under each): the block `expanded` writes row y
    into slot y % window, and after a band's first output row only the last `stride` of the window's
    rows are computed, the others being in the ring from the rows before. (TVM's `rolling_buffer` would add the test to the
    epilogue only, leaving the 1x1's FMAs to run for every row, and refuses the region that the
    plane's edges clip.)

    Every access to the ring lies under `row_loop`, where TVM's lowering would allocate it: afresh
    for each output row. A prefetch of its first line at the band's start puts the allocation in
    the band, which keeps the rows from one output row to the next."""
    from tvm import tirx

    rows, stride = window
    band, row_loop, rows_at = loops
    sch.transform_layout(expanded, ("write", 0), lambda n, y, x, c: (n, y % rows, x, c))
    loop, outer = sch.get(rows_at), sch.get(row_loop)
    fresh = tirx.Or(tirx.EQ(outer.loop_var, tirx.const(0, str(outer.extent.ty))),
                    tirx.GE(loop.loop_var, tirx.const(rows - stride, str(loop.extent.ty))))
    replace_loop(sch, rows_at, body=tirx.IfThenElse(fresh, loop.body, None))
    ring = sch.get(expanded).writes[0].source
    prefetch_each_step(sch, band, [tirx.BufferLoad(ring, [tirx.const(0, str(d.ty)) for d in ring.shape])])
