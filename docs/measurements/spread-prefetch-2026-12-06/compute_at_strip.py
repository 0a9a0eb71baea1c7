"""Can TIR compute the head conv and its pooled strip under the classifier's reduction loop (strips)?"""
import numpy as np, tvm
from tvm import te
from tvm.s_tir import Schedule
P, C, F, N = 49, 352, 1984, 1000
x = te.placeholder((P, C), name="x")
w = te.placeholder((C, F), name="w")
wd = te.placeholder((F, N), name="wd")
rc = te.reduce_axis((0, C), "rc")
conv = te.compute((P, F), lambda p, f: te.sum(x[p, rc] * w[rc, f], axis=rc), name="conv")
relu = te.compute((P, F), lambda p, f: te.max(conv[p, f], 0.0), name="relu")
rp = te.reduce_axis((0, P), "rp")
psum = te.compute((F,), lambda f: te.sum(relu[rp, f], axis=rp), name="psum")
pool = te.compute((F,), lambda f: psum[f] / P, name="pool")
rf = te.reduce_axis((0, F), "rf")
out = te.compute((N,), lambda j: te.sum(pool[rf] * wd[rf, j], axis=rf), name="out")
sch = Schedule(te.create_prim_func([x, w, wd, out]))
blk = getattr(sch, "get_sblock", None) or sch.get_block
o = blk("out")
j, f = sch.get_loops(o)
fo, fi = sch.split(f, [None, 32])
sch.reorder(fo, j, fi)
try:
    sch.compute_inline(blk("pool"))
    sch.compute_at(blk("psum"), fo)
    print("pooled strip computed at the classifier's strip loop: ok", flush=True)
    sch.compute_inline(blk("relu"))
    sch.compute_at(blk("conv"), fo)
    print("conv computed there too: ok", flush=True)
    print(sch.mod["main"].script()[:3000])
    lib = tvm.compile(sch.mod, target="llvm")
    rng = np.random.default_rng(0)
    a = [rng.standard_normal(s).astype("float32") for s in ((P, C), (C, F), (F, N))]
    res = tvm.runtime.tensor(np.zeros(N, "float32"))
    lib(*[tvm.runtime.tensor(v) for v in a], res)
    ref = (np.maximum(a[0] @ a[1], 0).sum(0) / P) @ a[2]
    print("max err", np.abs(res.numpy() - ref).max(), np.abs(ref).max())
except Exception as e:
    print("FAILED:", str(e)[:1500])
