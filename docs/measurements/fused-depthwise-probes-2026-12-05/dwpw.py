"""Fused depthwise+1x1 variants for one block: pixels per tile, and unfused."""
import contextlib, sys
import probe_kernels as pk
from lutnas.lowering import dw_pw_fusion
from lutnas.lowering.rules import nhwc

def px_patch(px):
    @contextlib.contextmanager
    def patch():
        old = nhwc.ChannelsLastDepthwisePointwise.__init__
        def init(self, pixels=None):
            old(self, px)
        nhwc.ChannelsLastDepthwisePointwise.__init__ = init
        try:
            yield
        finally:
            nhwc.ChannelsLastDepthwisePointwise.__init__ = old
    return patch

@contextlib.contextmanager
def unfused():
    old = dw_pw_fusion.MIN_PLANE_PIXELS
    dw_pw_fusion.MIN_PLANE_PIXELS = 10**9
    try:
        yield
    finally:
        dw_pw_fusion.MIN_PLANE_PIXELS = old

pxs = [int(x) for x in sys.argv[2].split(",")] if len(sys.argv) > 2 else [4, 14, 16]
for spec in sys.argv[1].split(";"):
    net, shape = pk.block(spec)
    tag = spec.replace(",", "_")
    variants = [pk.kernel_jobs(net, shape, tag + "_fused")]
    labels = ["fused px8"]
    variants.append(pk.kernel_jobs(net, shape, tag + "_unfused", unfused)); labels.append("unfused")
    for px in pxs:
        variants.append(pk.kernel_jobs(net, shape, f"{tag}_px{px}", px_patch(px))); labels.append(f"px{px}")
    print([len(v) for v in variants], flush=True)
    print(pk.report(spec, labels, pk.time_variants(variants, rounds=7)), flush=True)
