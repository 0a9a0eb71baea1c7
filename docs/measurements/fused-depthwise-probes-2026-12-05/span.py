"""Fused dw+pw: the 1x1 spanning two depthwise tiles (on) against one (off)."""
import contextlib, sys
import probe_kernels as pk
from lutnas.lowering.rules import nhwc

def spans(on):
    @contextlib.contextmanager
    def patch():
        old = nhwc.FUSED_POINTWISE_SPANS
        nhwc.FUSED_POINTWISE_SPANS = on
        try:
            yield
        finally:
            nhwc.FUSED_POINTWISE_SPANS = old
    return patch

for spec in sys.argv[1].split(";"):
    net, shape = pk.block(spec)
    tag = spec.replace(",", "_")
    v = [pk.kernel_jobs(net, shape, tag + "_off", spans(False)), pk.kernel_jobs(net, shape, tag + "_on", spans(True))]
    print(pk.report(spec, ["one tile", "span 2"], pk.time_variants(v, rounds=9)), flush=True)
