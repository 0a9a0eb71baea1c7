"""Depthwise with padding (border tests in the taps) against the same over an input grown by the
padding (no tests): `python nopad.py 96,112,7,2 144,56,5,1 80,56,7,1`."""
import sys

from probe_kernels import block, kernel_jobs, report, time_variants

for spec in sys.argv[1:]:
    variants = [kernel_jobs(*block(spec, padding), f"{'pad' if padding else 'grown'}{spec}") for padding in (True, False)]
    print(report(spec, ["padded", "grown input without padding"], time_variants(variants)), flush=True)
