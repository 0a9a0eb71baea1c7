"""Two-row fused tiles: a fused depthwise + 1x1 (and the banded kernel) computing each pixel tile over
N output rows, the depthwise's window rows shared between them (`enabled(N)`; with dw_rows_inside=False
the rows stay outside the depthwise's taps). `lib2.py` maps blockab2.py's 'rows:N' / 'rowsout:N' here."""
import contextlib
from unittest.mock import patch
from lutnas.lowering.rules import nhwc, banded
from lutnas.lowering.rules.nhwc import split_vectors, epilogue_and_init


def make(rows_per_tile, dw_rows_inside=True):
    def tile_pointwise(sch, pw, px, fv, lanes, band_rows=None):
        ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(pw)
        h = int(sch.get(ly).extent)
        inner = band_rows or h
        r = rows_per_tile if inner % rows_per_tile == 0 else 1
        rows = [ly] if band_rows is None else sch.split(ly, factors=[None, band_rows])
        if r > 1:
            pair_o, pair_i = sch.split(rows[-1], factors=[None, r])
            rows = [*rows[:-1], pair_o]
        else:
            pair_i = None
        xo, xi = sch.split(lx, factors=[None, px])
        fo, fi = sch.split(lf, factors=[None, fv])
        order = [ln, *rows, xo] + ([pair_i] if pair_i is not None else []) + [fo, lry, lrx, lrc, xi, fi]
        sch.reorder(*order)
        outer = sch.fuse(ln, rows[0])
        sch.parallel(outer)
        sch.unroll(xi)
        split_vectors(sch, fi, lanes, max_unroll=max(1, fv // lanes))
        return outer, xo, fo, lry

    def depthwise_tile(sch, dw, tile, fv, lanes):
        *_, ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(dw)
        fo, fi = sch.split(lf, factors=[None, fv])
        if dw_rows_inside:
            sch.reorder(ln, fo, lrc, lry, lrx, ly, lx, fi)
            for loop in (lry, lrx, ly, lx):
                sch.unroll(loop)
        else:
            sch.reorder(ln, ly, fo, lrc, lry, lrx, lx, fi)
            for loop in (lry, lrx, lx):
                sch.unroll(loop)
        split_vectors(sch, fi, lanes)
        epilogue_and_init(sch, dw, tile, fo, lrc, lanes)
    return tile_pointwise, depthwise_tile


@contextlib.contextmanager
def enabled(rows_per_tile, dw_rows_inside=True):
    tp, dt = make(rows_per_tile, dw_rows_inside)
    with patch.object(nhwc, "tile_pointwise", tp), patch.object(banded, "tile_pointwise", tp), \
            patch.object(nhwc, "_depthwise_tile", dt):
        yield
