"""1x1 conv kernel alone, tiles forced: python tiles.py CIN,COUT,HW[,res] "px:vec;px:vec;..." """
import contextlib, sys
sys.path.insert(0, "/work/main/docs/measurements/strip-prefetch-2026-12-05")
import numpy as np, torch
import probe_kernels as pk
from lutnas.lowering.rules import nhwc

class Blk(torch.nn.Module):
    def __init__(s, cin, cout, res):
        super().__init__(); s.c = torch.nn.Conv2d(cin, cout, 1); s.res = res
        s.pre = torch.nn.Conv2d(cout, cin, 1) if res else None
    def forward(s, x):
        y = s.c(x)
        return y + torch.relu(x[:, : y.shape[1]]) if s.res else torch.nn.functional.relu6(y)

def forced(px, v):
    @contextlib.contextmanager
    def patch():
        old = nhwc.register_tile
        nhwc.register_tile = lambda shape, lanes, max_acc, stack_acc=None: (px, v * lanes)
        try: yield
        finally: nhwc.register_tile = old
    return patch

cin, cout, hw, *res = map(int, sys.argv[1].split(","))
net = Blk(cin, cout, bool(res and res[0])).eval(); shape = (1, cin, hw, hw)
variants, labels = [pk.kernel_jobs(net, shape, f"t_{cin}_{cout}_{hw}_rule")], ["rule"]
for pv in sys.argv[2].split(";"):
    px, v = map(int, pv.split(":"))
    variants.append(pk.kernel_jobs(net, shape, f"t_{cin}_{cout}_{hw}_{px}_{v}", forced(px, v))); labels.append(f"{px}x{v}")
tot = pk.time_variants(variants, rounds=7)
mflop = 2 * cin * cout * hw * hw / 1e6
print(sys.argv[1], " ".join(f"{l}: {np.median(t):.1f}us ({mflop/np.median(t)*1e3:.0f} GF/s)" for l, t in zip(labels, tot)))
