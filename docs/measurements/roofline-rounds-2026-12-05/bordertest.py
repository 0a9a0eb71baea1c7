"""Fused depthwise + 1x1 with the padding read in place (border tests in the taps) against the same
kernel on an input grown by the window (no padding, no tests), same output plane: python bordertest.py C,HW,K,S,F;..."""
import sys
sys.path.insert(0, "/work/main/docs/measurements/strip-prefetch-2026-12-05")
import numpy as np
import probe_kernels as pk

for spec in sys.argv[1].split(";"):
    tag = spec.replace(",", "_")
    padded, shape_p = pk.block(spec, padding=True)
    grown, shape_g = pk.block(spec, padding=False)
    variants = [pk.kernel_jobs(padded, shape_p, tag + "_pad"), pk.kernel_jobs(grown, shape_g, tag + "_grown")]
    tot = pk.time_variants(variants, rounds=9)
    print(spec, f"padded (tests) {np.median(tot[0]):.1f} us, grown (no tests) {np.median(tot[1]):.1f} us, "
          f"x{np.median(tot[1] / tot[0]):.3f}", flush=True)
