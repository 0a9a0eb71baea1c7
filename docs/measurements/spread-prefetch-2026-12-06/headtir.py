"""The head 1x1 (CIN -> COUT at P pixels) + ReLU + mean + classifier (-> N) as ONE TIR kernel, the
classifier's channel loop in strips of 32 outermost with the conv and the pooled strip computed under
it; with `pf`, each strip prefetches the next strip's classifier weights (one line per step of its
FMA loop). Against lutnas-cpu's build of the same layers (its kernels), hot and after a 64 MB write,
alternating.   python headtir.py CIN,COUT,P,N ROUNDS"""
import sys, time
import numpy as np, torch, tvm
from tvm import te, tirx, relax
from tvm.s_tir import Schedule
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax

CIN, COUT, P, N = map(int, sys.argv[1].split(","))
ROUNDS = int(sys.argv[2])
S, FV, PX = COUT // 32, 32, 7
T = get_target("x86", mcpu=system_cpu(), num_cores=1)


def kernel(prefetch: bool, fused: bool = True):
    x = te.placeholder((P, CIN), name="x")
    w = te.placeholder((S, CIN, FV), name="w")
    b = te.placeholder((COUT,), name="b")
    wd = te.placeholder((COUT * N,), name="wd")
    bd = te.placeholder((N,), name="bd")
    rc = te.reduce_axis((0, CIN), "rc")
    conv = te.compute((P, COUT), lambda p, f: te.sum(x[p, rc] * w[f // FV, rc, f % FV], axis=rc), name="conv")
    rp = te.reduce_axis((0, P), "rp")
    psum = te.compute((COUT,), lambda f: te.sum(te.max(conv[rp, f] + b[f], 0.0), axis=rp), name="psum")
    rf = te.reduce_axis((0, COUT), "rf")
    acc = te.compute((N,), lambda j: te.sum(psum[rf] * wd[rf * N + j], axis=rf), name="acc")
    out = te.compute((N,), lambda j: acc[j] * (1.0 / P) + bd[j], name="out")
    sch = Schedule(te.create_prim_func([x, w, b, wd, bd, out]))
    blk = sch.get_sblock
    o = blk("acc")
    wd_buf = next(rg.source for rg in sch.get(o).reads if rg.source.name == "wd")
    j, f = sch.get_loops(o)
    fo, fi = sch.split(f, [None, FV])
    jo, ji = sch.split(j, [None, 8])
    sch.reorder(fo, jo, fi, ji)
    sch.unroll(fi)
    sch.vectorize(ji)
    if fused:
        sch.compute_at(blk("psum"), fo)
        sch.compute_at(blk("conv"), fo)
    c = blk("conv")
    p, ff, r = sch.get_loops(c)[-3:]
    pt, pi = sch.split(p, [None, PX])
    f2, fvv = sch.split(ff, [None, 16])
    sch.reorder(pt, r, pi, f2, fvv)
    cw = sch.cache_write(c, 0, "local")
    sch.reverse_compute_at(cw, pt)
    sch.unroll(pi); sch.unroll(f2); sch.vectorize(fvv)
    sch.decompose_reduction(c, r)
    ps = blk("psum")
    pf_, prp = sch.get_loops(ps)[-2:]
    sch.reorder(prp, pf_)
    sch.vectorize(pf_)
    sch.decompose_reduction(o, fo if fused else sch.get_loops(o)[0])
    if prefetch and fused:
        insert_prefetch(sch, fo, pt, r, wd_buf)
    return sch.mod


def insert_prefetch(sch, fo, pt, r, wd):
    steps, lines = (P // PX) * CIN, FV * N * 4 // 64
    scale = -(-(lines << 16) // steps)
    loop = sch.get(r)
    strip, tile = sch.get(fo).loop_var, sch.get(pt).loop_var
    dt = str(loop.extent.ty)
    step = tile * loop.extent + loop.loop_var
    line = tirx.shift_right(step * tirx.const(scale, dt), tirx.const(16, dt))
    nxt = tirx.min(strip + 1, S - 1)
    index = nxt * (FV * N) + line * 16
    ld = tirx.BufferLoad(wd, [index])
    pf = tirx.Evaluate(tirx.call_llvm_intrin("void", "llvm.prefetch", tirx.address_of(ld),
                                             tirx.const(0, "int32"), tirx.const(2, "int32"), tirx.const(1, "int32")))
    body = tirx.SeqStmt([pf, loop.body])
    sch.state.replace(sch.get_sref(r), tirx.For(loop.loop_var, loop.min, loop.extent, loop.kind, body,
                                                loop.thread_binding, loop.annotations))


FLUSH = np.ones(64 << 20 >> 2, dtype=np.float32)


def timed(f, cold):
    t = []
    for _ in range(11):
        if cold:
            FLUSH[::16] += 1.0
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return float(np.median(t)) * 1e6


rng = np.random.default_rng(0)
xn = rng.standard_normal((P, CIN)).astype("float32")
wn = (rng.standard_normal((CIN, COUT)) / CIN ** 0.5).astype("float32")
bn = rng.standard_normal(COUT).astype("float32") * 0.1
wdn = (rng.standard_normal((COUT, N)) / COUT ** 0.5).astype("float32")
bdn = rng.standard_normal(N).astype("float32") * 0.1
ref = (np.maximum(xn @ wn + bn, 0).mean(0)) @ wdn + bdn
dev = tvm.cpu()
args = [tvm.runtime.tensor(v) for v in (xn, wn.reshape(CIN, S, FV).transpose(1, 0, 2).copy(), bn, wdn.reshape(-1), bdn)]
res = tvm.runtime.tensor(np.zeros(N, "float32"))
runs = {}
for label, pf, fused in (("one kernel", False, True), ("one kernel + prefetch", True, True)):
    lib = tvm.compile(kernel(pf, fused), target=T.tvm_target())
    fn = lib["main"]
    fn(*args, res)
    assert np.abs(res.numpy() - ref).max() < 1e-3 * np.abs(ref).max() + 1e-4, label
    runs[label] = lambda fn=fn: fn(*args, res)
# lutnas-cpu's own build of the same layers (NCHW input at the head: its transpose included)
net = torch.nn.Sequential(torch.nn.Conv2d(CIN, COUT, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                          torch.nn.Flatten(), torch.nn.Linear(COUT, N)).eval()
hw = int(round(P ** 0.5))
path = export_onnx(net, (1, CIN, hw, hw), Path(f"/tmp/probe/work/head{CIN}-{COUT}.onnx"))
mod, _ = import_model(path, (1, CIN, hw, hw))
vm = relax.VirtualMachine(compile_lowered(lower_relax(mod, T, "lutnas-cpu"), T), dev)
xin = tvm.runtime.tensor(rng.standard_normal((1, CIN, hw, hw)).astype("float32"))
runs["lutnas-cpu (3 kernels)"] = lambda: vm["main"](xin)
times = {k: {"hot": [], "cold": []} for k in runs}
for _ in range(ROUNDS):
    for k, f in runs.items():
        f()
        times[k]["hot"].append(timed(f, False))
        times[k]["cold"].append(timed(f, True))
base = "lutnas-cpu (3 kernels)"
for k in runs:
    h, c = np.array(times[k]["hot"]), np.array(times[k]["cold"])
    print(f"{CIN}->{COUT} @{P} px + {N}: {k:24s} hot {np.median(h):6.0f} us cold {np.median(c):6.0f} us | "
          f"against lutnas-cpu hot x{np.median(h / np.array(times[base]['hot'])):.3f} "
          f"cold x{np.median(c / np.array(times[base]['cold'])):.3f}", flush=True)
