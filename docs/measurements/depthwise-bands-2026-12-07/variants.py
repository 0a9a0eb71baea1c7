"""Variants of rules.nhwc.ChannelsLastDepthwise for dws2.py."""
import contextlib, math
from unittest.mock import patch
from lutnas.lowering.rules import nhwc
from lutnas.lowering.rules.nhwc import *  # noqa
from lutnas.lowering.rules.nhwc import _pad_in_parallel
from lutnas.lowering.rules.base import largest_divisor, vector_lanes, inline_chain, depthwise_accumulators
from lutnas.lowering.rules.conv import conv_parts

def apply_padblock(self, func, target, tunable):
    parts = conv_parts(func, NHWC_CHANNEL_AXIS)
    if parts is None:
        return None
    _n, _h, w, f, kh, kw, rc = parts.extents
    if rc != 1 or (kh, kw) == (1, 1):
        return None
    sch, conv = parts.sch, parts.reduction
    lanes = vector_lanes(target)
    fv = channel_tile(f, lanes, self.max_channel_vectors or depthwise_channel_vectors(lanes))
    max_acc = self.max_acc_vectors or depthwise_accumulators(target)
    px = largest_divisor(w, max(1, max_acc // math.ceil(fv / lanes)), prefer=(8, 7, 6, 4))
    out = inline_chain(sch, parts.consumers)
    for pad in parts.producers:
        _pad_in_parallel(sch, pad, lanes)
    ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(conv)
    xo, xi = sch.split(lx, factors=[None, px])
    fo, fi = sch.split(lf, factors=[None, fv])
    sch.reorder(ln, ly, xo, fo, lrc, lry, lrx, xi, fi)
    rows = sch.fuse(ln, ly)
    sch.parallel(rows)
    for loop in (lry, lrx, xi):
        sch.unroll(loop)
    split_vectors(sch, fi, lanes)
    epilogue_and_init(sch, conv, out, fo, lrc, lanes)
    return sch

@contextlib.contextmanager
def variant(tag):
    if tag == "rules":
        yield
    elif tag == "padblock":
        with patch.object(nhwc.ChannelsLastDepthwise, "apply", apply_padblock):
            yield
    else:
        raise SystemExit(tag)

def make_bands(band):
    def apply_bands(self, func, target, tunable):
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
            sch.compute_inline(pad)
        ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(conv)
        b = largest_divisor(h, band)
        yo, yi = sch.split(ly, factors=[None, b])
        xo, xi = sch.split(lx, factors=[None, px])
        fo, fi = sch.split(lf, factors=[None, fv])
        sch.reorder(ln, yo, fo, yi, xo, lrc, lry, lrx, xi, fi)
        rows = sch.fuse(ln, yo)
        sch.parallel(rows)
        for loop in (lry, lrx, xi):
            sch.unroll(loop)
        split_vectors(sch, fi, lanes)
        epilogue_and_init(sch, conv, out, xo, lrc, lanes)
        return sch
    return apply_bands

_old_variant = variant
@contextlib.contextmanager
def variant(tag):
    if tag.startswith("bands"):
        with patch.object(nhwc.ChannelsLastDepthwise, "apply", make_bands(int(tag[5:]))):
            yield
    else:
        with _old_variant(tag):
            yield
