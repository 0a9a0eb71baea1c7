"""GEMM out[P, F] = x[P, K] @ w (packed in strips of 32) in TE, one thread, strips outermost: a PXx2-vector
tile in one stack array against a 2*PX x 2 tile whose pixel loop is cut in two by `loop_partition`, each
half a block with its own PXx2 stack array under the one reduction loop, and against the 2*PX x 2 tile in
one array (more than 1024 bytes: a heap block).   python twoarrays.py P,K,F PX ROUNDS"""
import sys
import numpy as np, tvm
from tvm import te
from tvm.s_tir import Schedule
from lutnas.lowering.targets import get_target, system_cpu
P, K, F = map(int, sys.argv[1].split(",")); PX = int(sys.argv[2]); ROUNDS = int(sys.argv[3]); FV = 32
T = get_target("x86", mcpu=system_cpu(), num_cores=1).tvm_target()

def func():
    x = te.placeholder((P, K), name="x"); w = te.placeholder((F // FV, K, FV), name="w")
    k = te.reduce_axis((0, K), "k")
    out = te.compute((P, F), lambda p, f: te.sum(x[p, k] * w[f // FV, k, f % FV], axis=k), name="out")
    return te.create_prim_func([x, w, out])

def tile_block(sch, blk, po, k):
    acc = sch.cache_write(blk, 0, "global")
    sch.reverse_compute_at(acc, po)
    *_, a, b = sch.get_loops(acc)
    sch.unroll(a); sch.vectorize(sch.split(b, [None, 16])[1])
    init = sch.decompose_reduction(blk, k)
    return init

def schedule(px, halves):
    sch = Schedule(func())
    blk = sch.get_sblock("out")
    p, f, k = sch.get_loops(blk)
    po, pi = sch.split(p, [None, px]); fo, fi = sch.split(f, [None, FV]); fv, fl = sch.split(fi, [None, 16])
    sch.reorder(fo, po, k, pi, fv, fl)
    sch.unroll(fv); sch.vectorize(fl)
    if halves == 1:
        sch.unroll(pi)
        tile_block(sch, blk, po, k)
    else:
        parts = sch.loop_partition(pi, [px // 2, None])
        for i, loop in enumerate(parts):
            sch.unroll(loop)
            tile_block(sch, sch.get_sblock(f"out_p_1{i}"), po, k)
    return tvm.compile(sch.mod, target=T)

rng = np.random.default_rng(0)
xn = rng.standard_normal((P, K)).astype("float32"); wn = rng.standard_normal((K, F)).astype("float32")
args = [tvm.runtime.tensor(xn), tvm.runtime.tensor(wn.reshape(K, F // FV, FV).transpose(1, 0, 2).copy()),
        tvm.runtime.tensor(np.zeros((P, F), "float32"))]
labels = [f"{PX}x2 one array", f"{2 * PX}x2 two arrays", f"{2 * PX}x2 one array"]
libs = [schedule(PX, 1), schedule(2 * PX, 2), schedule(2 * PX, 1)]
for lib in libs:
    lib["main"](*args); assert np.abs(args[2].numpy() - xn @ wn).max() < 1e-2
res = [[] for _ in libs]
for _ in range(ROUNDS):
    for i, lib in enumerate(libs):
        res[i].append(lib.mod.time_evaluator("main", tvm.cpu(), number=50, repeat=1)(*args).mean * 1e6)
b = np.array(res[0])
for label, rr in zip(labels, res):
    rr = np.array(rr)
    print(f"{label:18s} {np.median(rr):7.1f} us  x{np.median(rr / b):.3f}  {2 * P * K * F / np.median(rr) / 1e3:.0f} GFLOP/s")
