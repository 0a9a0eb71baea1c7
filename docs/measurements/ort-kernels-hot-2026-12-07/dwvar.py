"""blockab.py with extra kab.FUNCS: depthwise tile variants.  python dwvar.py <blockab args>"""
import sys, runpy
sys.path.insert(0, "/work/main/docs/measurements/host-features-and-stack-tiles-2026-12-06")
import kab
from lutnas.lowering.rules import nhwc
from lutnas.lowering.rules.nhwc import split_vectors, epilogue_and_init

def dw_rowloop(sch, dw, tile, fv, lanes):
    """The window's rows as a loop, its columns and the tile's pixels unrolled."""
    *_, ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(dw)
    fo, fi = sch.split(lf, factors=[None, fv])
    sch.reorder(ln, ly, fo, lrc, lry, lrx, lx, fi)
    for loop in (lrx, lx):
        sch.unroll(loop)
    split_vectors(sch, fi, lanes)
    epilogue_and_init(sch, dw, tile, fo, lrc, lanes)

def dw_chanin(sch, dw, tile, fv, lanes):
    """Channel blocks innermost of the unrolled window: each input vector loaded once per tap row."""
    *_, ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(dw)
    fo, fi = sch.split(lf, factors=[None, fv])
    sch.reorder(ln, ly, fo, lrc, lry, lx, lrx, fi)
    for loop in (lry, lrx, lx):
        sch.unroll(loop)
    split_vectors(sch, fi, lanes)
    epilogue_and_init(sch, dw, tile, fo, lrc, lanes)

kab.FUNCS["dw_rowloop"] = dw_rowloop
_orig_fp = nhwc.fused_pixels
def _px(n):
    def f(w, fch, lanes, acc, max_px):
        return n if w % n == 0 else _orig_fp(w, fch, lanes, acc, max_px)
    return f
for _n in (4, 7, 14, 16):
    kab.FUNCS[f"px{_n}"] = _px(_n)
kab.FUNCS["dw_xrx"] = dw_chanin
sys.argv = ["/work/main/docs/measurements/k5-block-2026-12-06/blockab.py"] + sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
