"""fused kernel alone, hot: rows1 (as shipped), rows2, rows2 with 7-pixel tiles: python ab2.py SPEC;SPEC ROUNDS"""
import contextlib, sys
sys.path.insert(0, "/work/main/docs/measurements/strip-prefetch-2026-12-05")
import probe_kernels as pk
from lutnas.lowering.rules import nhwc

def variant(n, px7=False):
    @contextlib.contextmanager
    def ctx():
        old, oldf = nhwc.FUSED_TILE_ROWS, nhwc.fused_pixels
        nhwc.FUSED_TILE_ROWS = n
        if px7:
            nhwc.fused_pixels = lambda w, *a: 7 if w % 7 == 0 else oldf(w, *a)
        try: yield
        finally: nhwc.FUSED_TILE_ROWS, nhwc.fused_pixels = old, oldf
    return ctx

for spec in sys.argv[1].split(";"):
    net, shape = pk.block(spec)
    tag = spec.replace(",", "_")
    variants = [pk.kernel_jobs(net, shape, tag + f"_v{i}", v) for i, v in enumerate((variant(1), variant(2), variant(2, True), variant(1, True)))]
    tot = pk.time_variants(variants, rounds=int(sys.argv[2]))
    print(pk.report(spec, ["rows1", "rows2", "rows2px7", "rows1px7"], tot), flush=True)
