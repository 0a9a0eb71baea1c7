"""Standalone depthwise (and fused dw+pw): pixels per tile forced, interleaved rounds."""
import contextlib, sys
import probe_kernels as pk
from lutnas.lowering.rules import nhwc

def force(px):
    @contextlib.contextmanager
    def patch():
        old = nhwc.largest_divisor
        def ld(n, limit, prefer=()):
            if prefer and n % px == 0:
                return px
            return old(n, limit, prefer)
        nhwc.largest_divisor = ld
        try:
            yield
        finally:
            nhwc.largest_divisor = old
    return patch

pxs = [int(x) for x in sys.argv[2].split(",")]
for spec in sys.argv[1].split(";"):
    net, shape = pk.block(spec)
    tag = spec.replace(",", "_")
    variants = [pk.kernel_jobs(net, shape, tag + "_base")]
    for px in pxs:
        variants.append(pk.kernel_jobs(net, shape, f"{tag}_px{px}", force(px)))
    print(pk.report(spec, ["default"] + [f"px{p}" for p in pxs], pk.time_variants(variants, rounds=9)), flush=True)
