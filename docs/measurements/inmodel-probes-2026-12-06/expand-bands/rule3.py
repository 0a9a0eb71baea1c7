"""Prototype: expansion 1x1 + depthwise + 1x1 in one kernel, computed band of rows by band of rows."""
from typing import Any
from lutnas.lowering.rules.base import (Rule, kinded_blocks, static_extents, vector_lanes, inline_chain,
                                        largest_divisor, gemm_accumulators, stack_vectors, target_cores)
from lutnas.lowering.rules import nhwc
from lutnas.lowering.rules.nhwc import (GemmShape, register_tile, channel_tile, fused_pixels, pack_weights,
                                        split_vectors, epilogue_and_init, depthwise_channel_vectors,
                                        stack_gemm_accumulators, depthwise_accumulators, _depthwise_tile)

BAND_BYTES = 512 * 1024

def band_rows(h_out, w_in, mid, k, s, budget, cores):
    best = 1
    for b in range(1, h_out + 1):
        if h_out % b == 0 and (h_out // b) % cores == 0 and ((b - 1) * s + k) * w_in * mid * 4 <= budget:
            best = b
    return best

class ExpandDepthwisePointwise(Rule):
    name = "nhwc-expand-depthwise-pointwise"

    def apply(self, func: Any, target: Any, tunable: bool) -> Any:
        found = kinded_blocks(func)
        if found is None:
            return None
        sch, blocks, kinds = found
        reds = [i for i, k in enumerate(kinds) if k == "SSSSRRR"]
        if len(reds) != 3 or any(i not in reds and "R" in k for i, k in enumerate(kinds)):
            return None
        e_i, d_i, p_i = reds
        ex, dw, pw = blocks[e_i], blocks[d_i], blocks[p_i]
        ee, de, pe = (static_extents(sch, sch.get_loops(b)) for b in (ex, dw, pw))
        if ee[4:6] != [1, 1] or de[6] != 1 or pe[4:6] != [1, 1] or de[1:3] != pe[1:3]:
            return None
        lanes, acc = vector_lanes(target), stack_gemm_accumulators(target)
        w, mid, f = pe[2], de[3], pe[3]
        k, h_out, w_in = de[4], de[1], ee[2]
        s = round(ee[1] / de[1]) if ee[1] != de[1] else 1
        px = fused_pixels(w, f, lanes, acc, depthwise_accumulators(target))
        fv = channel_tile(f, lanes, max(1, acc // px))
        dw_fv = channel_tile(mid, lanes, depthwise_channel_vectors(lanes))
        e_px, e_fv = register_tile(GemmShape(w_in, ee[3], ee[6], True), lanes, gemm_accumulators(target),
                                   stack_vectors(target))
        pack_weights(sch, pw, fv)
        pack_weights(sch, ex, e_fv)
        for b in blocks[:e_i]:
            sch.compute_inline(b)
        ex_out = inline_chain(sch, blocks[e_i + 1:d_i - 1])
        sch.compute_inline(blocks[d_i - 1])      # the depthwise's padding, read in place
        out = inline_chain(sch, blocks[p_i + 1:])
        between = blocks[d_i + 1:p_i]
        for b in between[:-1]:
            sch.compute_inline(b)
        tile = between[-1]
        band = band_rows(h_out, w_in, mid, k, s, BAND_BYTES, target_cores(target) or 2)
        ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(pw)
        yb, yi = sch.split(ly, factors=[None, band])
        xo, xi = sch.split(lx, factors=[None, px])
        fo, fi = sch.split(lf, factors=[None, fv])
        sch.reorder(ln, yb, yi, xo, fo, lry, lrx, lrc, xi, fi)
        bands = sch.fuse(ln, yb)
        sch.parallel(bands)
        sch.unroll(xi)
        split_vectors(sch, fi, lanes, max_unroll=max(1, fv // lanes))
        epilogue_and_init(sch, pw, out, fo, lry, lanes, max_unroll=acc)
        sch.compute_at(tile, xo, preserve_unit_loops=True)
        sch.set_scope(tile, 0, "local")
        sch.compute_at(dw, xo, preserve_unit_loops=True)
        _depthwise_tile(sch, dw, tile, dw_fv, lanes)
        sch.compute_at(ex_out, bands, preserve_unit_loops=True)
        sch.compute_at(ex, bands, preserve_unit_loops=True)
        _b, en, ey, exx, ef, ery, erx, erc = sch.get_loops(ex)
        exo, exi = sch.split(exx, factors=[None, e_px])
        efo, efi = sch.split(ef, factors=[None, e_fv])
        sch.reorder(en, ey, exo, efo, ery, erx, erc, exi, efi)
        sch.unroll(exi)
        split_vectors(sch, efi, lanes, max_unroll=gemm_accumulators(target))
        epilogue_and_init(sch, ex, ex_out, efo, ery, lanes, max_unroll=gemm_accumulators(target))
        return sch
