"""fused kernel alone, hot: FUSED_TILE_ROWS 1 vs 2: python ab.py SPEC;SPEC"""
import contextlib, sys
sys.path.insert(0, "/work/main/docs/measurements/strip-prefetch-2026-12-05")
import numpy as np
import probe_kernels as pk
from lutnas.lowering.rules import nhwc

def rows(n):
    @contextlib.contextmanager
    def ctx():
        old = nhwc.FUSED_TILE_ROWS; nhwc.FUSED_TILE_ROWS = n
        try: yield
        finally: nhwc.FUSED_TILE_ROWS = old
    return ctx

for spec in sys.argv[1].split(";"):
    net, shape = pk.block(spec)
    tag = spec.replace(",", "_")
    variants = [pk.kernel_jobs(net, shape, tag + f"_r{n}", rows(n)) for n in (1, 2)]
    tot = pk.time_variants(variants, rounds=int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    print(pk.report(spec, ["rows1", "rows2"], tot), flush=True)
