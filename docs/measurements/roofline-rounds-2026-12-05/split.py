"""Fused dw+1x1 vs its two kernels unfused, per kernel (hot, alone): python split.py C,HW,K,S,F;..."""
import contextlib, sys
sys.path.insert(0, "/work/main/docs/measurements/strip-prefetch-2026-12-05")
import numpy as np
import probe_kernels as pk
from lutnas.lowering import dw_pw_fusion

@contextlib.contextmanager
def unfused():
    old = dw_pw_fusion.MIN_PLANE_PIXELS
    dw_pw_fusion.MIN_PLANE_PIXELS = 10**9
    try:
        yield
    finally:
        dw_pw_fusion.MIN_PLANE_PIXELS = old

for spec in sys.argv[1].split(";"):
    c, hw, k, s, f = map(int, spec.split(","))
    net, shape = pk.block(spec)
    tag = spec.replace(",", "_")
    fused = pk.kernel_jobs(net, shape, tag + "_f")
    parts = pk.kernel_jobs(net, shape, tag + "_u", unfused)
    variants = [fused] + [[p] for p in parts]
    tot = pk.time_variants(variants, rounds=7)
    o = (hw // s) ** 2
    dwf, pwf = 2 * o * c * k * k / 1e6, 2 * o * c * f / 1e6
    med = [float(np.median(t)) for t in tot]
    print(f"{spec}: fused {med[0]:.1f} us ({(dwf + pwf) / med[0] * 1e3:.0f} GF/s); dw alone {med[1]:.1f} us "
          f"({dwf / med[1] * 1e3:.0f} GF/s), 1x1 alone {med[2]:.1f} us ({pwf / med[2] * 1e3:.0f} GF/s); sum {med[1] + med[2]:.1f}", flush=True)
