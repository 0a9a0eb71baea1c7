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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    Rule,
    gemm_accumulators,
    inline_chain,
    kinded_blocks,
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
    register_tile,
    split_vectors,
    stack_gemm_accumulators,
    tile_pointwise,
)

if TYPE_CHECKING:
    import tvm

BAND_BYTES = 1536 * 1024


def band_rows(out_rows: int, row_bytes: int, window: int, stride: int, cores: int) -> int:
    """Output rows per band: the most that divide `out_rows` into a multiple of `cores` bands whose
    expanded rows (`(rows - 1) * stride + window` of `row_bytes` each) fit `BAND_BYTES`; at least 1."""
    fits = [b for b in range(1, out_rows + 1)
            if out_rows % b == 0 and (out_rows // b) % cores == 0 and ((b - 1) * stride + window) * row_bytes <= BAND_BYTES]
    return max(fits, default=1)


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
        rows = band_rows(de[1], ee[2] * ee[3] * 4, de[4], stride, target_cores(target) or 2)
        tile = _project_in_bands(sch, blocks, convs, pe, de, rows, target)
        _expand_per_band(sch, blocks, convs, ee, tile, lanes, target)
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
    depthwise_under_tile(sch, dw, tile, xo, fused_depthwise_channels(de[3], px, target), lanes)
    return bands


def _expand_per_band(sch: Any, blocks: list[Any], convs: list[int], ee: list[int], bands: Any, lanes: int,
                     target: tvm.target.Target) -> None:
    """The expansion computed under each band (its rows and the window's halo), as a 1x1 over rows."""
    e_i, d_i, _ = convs
    ex = blocks[e_i]
    max_acc = gemm_accumulators(target)
    px, fv = register_tile(GemmShape(ee[2], ee[3], ee[6], True), lanes, max_acc, stack_vectors(target))
    pack_weights(sch, ex, fv)
    for block in blocks[:e_i]:               # a 1x1's "padding" is a plain copy: read in place
        sch.compute_inline(block)
    out = inline_chain(sch, blocks[e_i + 1:d_i - 1])
    sch.compute_at(out, bands, preserve_unit_loops=True)
    sch.compute_at(ex, bands, preserve_unit_loops=True)
    _band, ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(ex)
    xo, xi = sch.split(lx, factors=[None, px])
    fo, fi = sch.split(lf, factors=[None, fv])
    sch.reorder(ln, ly, xo, fo, lry, lrx, lrc, xi, fi)
    sch.unroll(xi)
    split_vectors(sch, fi, lanes, max_unroll=max_acc)
    epilogue_and_init(sch, ex, out, fo, lry, lanes, max_unroll=max_acc)
