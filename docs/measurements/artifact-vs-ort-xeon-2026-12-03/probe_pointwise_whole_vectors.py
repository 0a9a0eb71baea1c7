import sys; sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent))
from probe import run
import torch
from lutnas.lowering.rules import default_cpu_rules, ChannelsLastConv
from lutnas.lowering.rules import nhwc
orig_rt = nhwc.register_tile
orig_sv = nhwc.split_vectors
MODE = {"on": False}
def rt(shape, lanes, max_acc):
    if MODE["on"] and shape.channels % lanes and shape.channels % 8 == 0 and shape.channels <= 6 * lanes:
        vecs = -(-shape.channels // lanes)
        px = nhwc.largest_divisor(shape.pixels, max(1, max_acc // vecs), prefer=(8,7,6,4))
        return px, shape.channels
    return orig_rt(shape, lanes, max_acc)
def sv(sch, loop, lanes, max_unroll=4):
    ext = nhwc.static_extents(sch, [loop])[0]
    if MODE["on"] and ext % lanes and ext % 8 == 0 and ext <= 6 * lanes:
        sch.vectorize(loop); return
    return orig_sv(sch, loop, lanes, max_unroll)
nhwc.register_tile = rt; nhwc.split_vectors = sv
class Whole(ChannelsLastConv):
    def apply(self, func, target, tunable):
        MODE["on"] = True
        try: return super().apply(func, target, tunable)
        finally: MODE["on"] = False
def variant():
    def mk():
        return [Whole() if isinstance(r, ChannelsLastConv) else r for r in default_cpu_rules()]
    return mk
def pw(ci,co,h): return (f"pw {ci}->{co} {h}", torch.nn.Sequential(torch.nn.Conv2d(ci,co,1), torch.nn.ReLU()), (1,ci,h,h))
if __name__ == "__main__":
    shapes=[(24,72,56),(72,24,56),(40,120,28),(120,40,28),(184,552,7)]
    run([pw(*s) for s in shapes], [("default", default_cpu_rules), ("whole", variant())])
