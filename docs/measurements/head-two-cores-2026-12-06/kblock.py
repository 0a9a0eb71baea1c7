"""A 1x1 conv as a GEMM out[P, F] = x[P, K] @ w[K/FV.., FV] in TE, one thread: lutnas-cpu's tile order
(strips outermost, PX x FV register tile on the stack, full K inside) against the same tile with K in
blocks of KB outermost (rfactor: one partial sum per block, then a sum).  python kblock.py P,K,F PX,FV KB ROUNDS"""
import sys
import numpy as np, tvm
from tvm import te
from tvm.s_tir import Schedule
from lutnas.lowering.targets import get_target, system_cpu
P, K, F = map(int, sys.argv[1].split(",")); PX, FV = map(int, sys.argv[2].split(",")); KB = int(sys.argv[3])
ROUNDS = int(sys.argv[4])
T = get_target("x86", mcpu=system_cpu(), num_cores=1).tvm_target()

def func(kblock):
    x = te.placeholder((P, K), name="x"); w = te.placeholder((F // FV, K, FV), name="w")
    if not kblock:
        k = te.reduce_axis((0, K), "k")
        out = te.compute((P, F), lambda p, f: te.sum(x[p, k] * w[f // FV, k, f % FV], axis=k), name="out")
        return te.create_prim_func([x, w, out])
    kb = te.reduce_axis((0, KB), "kb")
    part = te.compute((K // KB, P, F), lambda b, p, f: te.sum(x[p, b * KB + kb] * w[f // FV, b * KB + kb, f % FV], axis=kb), name="part")
    r = te.reduce_axis((0, K // KB), "r")
    out = te.compute((P, F), lambda p, f: te.sum(part[r, p, f], axis=r), name="out")
    return te.create_prim_func([x, w, out])

def tile(sch, blk, outer):
    *pre, p, f, k = sch.get_loops(blk)
    po, pi = sch.split(p, [None, PX]); fo, fi = sch.split(f, [None, FV]); fv, fl = sch.split(fi, [None, 16])
    sch.reorder(*outer(pre, fo, po), k, pi, fv, fl)
    acc = sch.cache_write(blk, 0, "global")
    sch.reverse_compute_at(acc, po)
    sch.unroll(pi); sch.unroll(fv); sch.vectorize(fl)
    sch.decompose_reduction(blk, k)
    *_, a, b = sch.get_loops(acc); sch.vectorize(sch.split(b, [None, 16])[1])

def schedule(kblock):
    sch = Schedule(func(kblock))
    if not kblock:
        tile(sch, sch.get_sblock("out"), lambda pre, fo, po: (fo, po))
    else:
        tile(sch, sch.get_sblock("part"), lambda pre, fo, po: (pre[0], fo, po))
        o = sch.get_sblock("out")
        p, f, r = sch.get_loops(o)
        sch.reorder(p, r, f)
        sch.vectorize(sch.split(f, [None, 16])[1])
        sch.decompose_reduction(o, r)
    return tvm.compile(sch.mod, target=T)

rng = np.random.default_rng(0)
xn = rng.standard_normal((P, K)).astype("float32"); wn = rng.standard_normal((K, F)).astype("float32")
args = [tvm.runtime.tensor(xn), tvm.runtime.tensor(wn.reshape(K, F // FV, FV).transpose(1, 0, 2).copy()),
        tvm.runtime.tensor(np.zeros((P, F), "float32"))]
fns = [schedule(False), schedule(True)]
for fn in fns:
    fn["main"](*args); assert np.abs(args[2].numpy() - xn @ wn).max() < 1e-2
res = [[], []]
for _ in range(ROUNDS):
    for i, fn in enumerate(fns):
        res[i].append(fn.mod.time_evaluator("main", tvm.cpu(), number=50, repeat=1)(*args).mean * 1e6)
b = np.array(res[0])
for label, rr in zip(("full K", f"K blocks of {KB}"), res):
    rr = np.array(rr)
    print(f"{label:16s} {np.median(rr):7.1f} us  x{np.median(rr / b):.3f}  {2 * P * K * F / np.median(rr) / 1e3:.0f} GFLOP/s")
