"""Variants of rules.nhwc.ChannelsLastDepthwise for dws2.py: 'rules' (the rule as shipped when run:
revision 32 for the outputs in probes-out.txt), and revision 32's schedule with 'padblock' (the
padding as its own block, `_pad_in_parallel`, instead of inlined) or 'bandsN' (channel vectors
outside bands of N output rows)."""
import contextlib, math
from unittest.mock import patch
from lutnas.lowering.rules import nhwc
from lutnas.lowering.rules.nhwc import NHWC_CHANNEL_AXIS, channel_tile, depthwise_channel_vectors, epilogue_and_init, split_vectors
from lutnas.lowering.rules.nhwc import _pad_in_parallel
from lutnas.lowering.rules.base import depthwise_accumulators, inline_chain, largest_divisor, vector_lanes
from lutnas.lowering.rules.conv import conv_parts


def make_apply(pad_block=False, band=None):
    def apply(self, func, target, tunable):
        parts = conv_parts(func, NHWC_CHANNEL_AXIS)
        if parts is None:
            return None
        _n, h, w, f, kh, kw, rc = parts.extents
        if rc != 1 or (kh, kw) == (1, 1):
            return None
        sch, conv = parts.sch, parts.reduction
        lanes = vector_lanes(target)
        fv = channel_tile(f, lanes, self.max_channel_vectors or depthwise_channel_vectors(lanes))
        max_acc = self.max_acc_vectors or depthwise_accumulators(target)
        px = largest_divisor(w, max(1, max_acc // math.ceil(fv / lanes)), prefer=(8, 7, 6, 4))
        out = inline_chain(sch, parts.consumers)
        for pad in parts.producers:
            _pad_in_parallel(sch, pad, lanes) if pad_block else sch.compute_inline(pad)
        ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(conv)
        xo, xi = sch.split(lx, factors=[None, px])
        fo, fi = sch.split(lf, factors=[None, fv])
        if band:
            yo, yi = sch.split(ly, factors=[None, largest_divisor(h, band)])
            sch.reorder(ln, yo, fo, yi, xo, lrc, lry, lrx, xi, fi)
            sch.parallel(sch.fuse(ln, yo))
        else:
            sch.reorder(ln, ly, xo, fo, lrc, lry, lrx, xi, fi)
            sch.parallel(sch.fuse(ln, ly))
        for loop in (lry, lrx, xi):
            sch.unroll(loop)
        split_vectors(sch, fi, lanes)
        epilogue_and_init(sch, conv, out, xo if band else fo, lrc, lanes)
        return sch
    return apply


@contextlib.contextmanager
def variant(tag):
    if tag == "rules":
        yield
        return
    apply = make_apply(pad_block=True) if tag == "padblock" else make_apply(band=int(tag.removeprefix("bands")))
    with patch.object(nhwc.ChannelsLastDepthwise, "apply", apply):
        yield
