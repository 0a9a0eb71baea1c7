"""A batch-1 dense layer's weight rows prefetched D rows ahead (crossing 4 KB pages), alone, cold-ish."""
import sys, numpy as np, tvm
from tvm import te, tirx
import lutnas.lowering.rules.elementwise as el
from lutnas.lowering import get_target
spec = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu())); tgt = spec.tvm_target()
K, N = int(sys.argv[1]), int(sys.argv[2])
def func():
    k = te.reduce_axis((0, K), "k")
    x, w = te.placeholder((1, K), name="x"), te.placeholder((K, N), name="w")
    return te.create_prim_func([x, w, te.compute((1, N), lambda i, j: te.sum(x[i, k] * w[k, j], axis=k))])
def add_prefetch(sch, dist, locality):
    # the rfactor block: loops part, (unit), kb, jm, ku, ji
    blk = [b for b in sch.get_child_blocks(sch.get_sblock("root")) if sch.get(b).name_hint.endswith("rf_update")][0]
    loops = sch.get_loops(blk)
    part, kb = loops[0], loops[-4]
    w = [r.source for r in sch.get(blk).reads if len(r.region) == 2 and int(r.source.shape[0]) == K][0]
    pl, kbl = sch.get(part), sch.get(kb)
    parts = int(pl.extent); rows_part = K // parts; rows = rows_part // int(kbl.extent)
    stmts = []
    it = kbl.loop_var.ty.dtype
    line = tirx.Var("l", str(it))
    for r in range(rows):
        row = tirx.min(tirx.Cast(str(it), pl.loop_var) * rows_part + kbl.loop_var * rows + r + dist, K - 1)
        addr = tirx.address_of(tirx.BufferLoad(w, [row, line * 16]))
        stmts.append(tirx.Evaluate(tirx.call_llvm_intrin("void", "llvm.prefetch", addr, tirx.const(0, "int32"), tirx.const(locality, "int32"), tirx.const(1, "int32"))))
    pf = tirx.For(line, tirx.const(0, str(it)), tirx.const(N // 16, str(it)), tirx.ForKind.SERIAL, tirx.SeqStmt(stmts))
    sch.state.replace(sch.get_sref(kb), tirx.For(kbl.loop_var, kbl.min, kbl.extent, kbl.kind, tirx.SeqStmt([pf, kbl.body]), kbl.thread_binding, kbl.annotations))
def build(dist, loc):
    sch = el.RowReduction().apply(func(), tgt, False)
    if dist: add_prefetch(sch, dist, loc)
    return tvm.compile(sch.mod, target=tgt)
dev = tvm.cpu()
x = tvm.runtime.tensor(np.random.rand(1, K).astype("float32"))
# several weight copies so a loop over them streams from memory (like a network)
copies = max(2, (64 << 20) // (K * N * 4))
ws = [tvm.runtime.tensor(np.random.rand(K, N).astype("float32")) for _ in range(copies)]
y = tvm.runtime.tensor(np.zeros((1, N), "float32"))
variants = [(0, 2)] + [(int(a), int(b)) for a, b in (v.split(":") for v in sys.argv[3:])]
libs = [build(d, l) for d, l in variants]
ref = x.numpy() @ ws[0].numpy()
import time
res = [[] for _ in libs]
for r in range(7):
    for i, lib in enumerate(libs):
        f = lib.mod["main"]
        f(x, ws[0], y); assert np.allclose(y.numpy(), ref, rtol=1e-3)
        t = time.perf_counter()
        for rep in range(4):
            for w in ws: f(x, w, y)
        res[i].append((time.perf_counter() - t) / (4 * len(ws)))
base = np.array(res[0])
for (d, l), r in zip(variants, res):
    print(f"dist {d:3d} rows, locality {l}: {np.median(r)*1e6:.1f} us  {K*N*4/np.median(r)/1e9:.1f} GB/s  x{np.median(np.array(r)/base):.3f}")
