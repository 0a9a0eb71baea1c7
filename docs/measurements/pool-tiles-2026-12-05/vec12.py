"""An elementwise chain over (1, H, W, C) with its channel loop vectorized by a given width."""
import sys, time, numpy as np, tvm
from tvm import te, tirx, s_tir
from lutnas.lowering import get_target
tgt = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu())).tvm_target()
def build(h, c, width):
    a = te.placeholder((1, h, h, c), name="a"); b = te.placeholder((1, h, h, c), name="b")
    out = te.compute(a.shape, lambda n, y, x, k: te.max(a[n, y, x, k] + b[n, y, x, k], tirx.const(0.0, "float32")), name="out")
    sch = s_tir.Schedule(te.create_prim_func([a, b, out]))
    blk = sch.get_sblock("out"); n, y, x, k = sch.get_loops(blk)
    ko, ki = sch.split(k, factors=[None, width]); sch.vectorize(ki); sch.parallel(sch.fuse(n, y))
    return tvm.compile(sch.mod, target=tgt).mod["main"]
h, c = int(sys.argv[1]), int(sys.argv[2]); widths = [int(w) for w in sys.argv[3:]]
dev = tvm.cpu(); rng = np.random.default_rng(0)
a, b = (tvm.runtime.tensor(rng.standard_normal((1, h, h, c)).astype("float32")) for _ in range(2))
o = tvm.runtime.tensor(np.zeros((1, h, h, c), "float32"))
fs = [build(h, c, w) for w in widths]
res = [[] for _ in fs]
for r in range(7):
    for i, f in enumerate(fs):
        f(a, b, o); t = time.perf_counter()
        for _ in range(200): f(a, b, o)
        res[i].append((time.perf_counter() - t) / 200)
for w, r in zip(widths, res): print(f"{h}x{h}x{c} width {w:2d}: {np.median(r)*1e6:.2f} us x{np.median(np.array(r)/np.array(res[0])):.3f}")
