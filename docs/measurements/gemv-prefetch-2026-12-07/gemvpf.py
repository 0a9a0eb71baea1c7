"""A batch-1 dense layer K -> N (torch Linear) alone: lutnas-cpu's axpy gemv as shipped ('rows') against
the same loops with a software prefetch (into L2) of the weight rows D passes ahead at every step of
the output loop ('pfD'), timed alternately hot and after a 64 MB write.
python gemvpf.py K,N T ROUNDS D[,D...]"""
import os, sys
T_ = int(sys.argv[2]); os.environ["TVM_NUM_THREADS"] = str(T_)
import numpy as np, torch, tvm
sys.path.insert(0, "/work/main/docs/measurements/head-chains-2026-12-06")
from alternate import time_alternately
from unittest.mock import patch
from pathlib import Path
from tvm import relax, tirx
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
import lutnas.lowering.rules.elementwise as el
from lutnas.lowering.rules.base import REDUCE_ITER, SPATIAL_ITER, largest_divisor, partial_outputs, uses_var, vectorize_inner
from lutnas.lowering.rules.nhwc import prefetch_each_step


FLAT = bool(int(os.environ.get('FLAT', '0')))


def prefetching_gemv(ahead):
    def gemv(sch, red, out, reduce_, inner, lanes):
        """rules.elementwise._axpy_gemv (revision 33) + a prefetch of the rows `ahead` passes on."""
        k = sch.fuse(*reduce_) if len(reduce_) > 1 else reduce_[0]
        depth = int(sch.get(k).extent)
        parts = largest_divisor(depth, el.GEMV_PARTS)
        copies = partial_outputs(sch, red, k, parts, inner, lanes)
        *unit, j, part, rows_k = sch.get_loops(copies)
        rows = largest_divisor(depth // parts, el.GEMV_ROWS)
        kb, ku = sch.split(rows_k, factors=[None, rows])
        jm, ji = sch.split(j, factors=[None, inner])
        sch.reorder(part, *unit, kb, jm, ku, ji)
        stmt = sch.get(copies)
        spatial = [iv.var for iv in stmt.iter_vars if int(iv.iter_type) == SPATIAL_ITER]
        reduced = [iv.var for iv in stmt.iter_vars if int(iv.iter_type) == REDUCE_ITER]
        index = next(i for i, r in enumerate(stmt.reads) if len(r.region) == 2
                     and any(uses_var(r.region[0].min, v) for v in reduced) and any(uses_var(r.region[1].min, v) for v in spatial))
        w = stmt.reads[index].source
        units = int(np.prod([int(sch.get(u).extent) for u in unit]))
        fused = sch.fuse(part, *unit) if unit else part
        sch.parallel(fused)
        pv, kv, jv = (sch.get(l).loop_var for l in (fused, kb, jm))
        if unit:   # the fused loop is part * units + unit
            pv = pv // units
        n = int(w.shape[1])
        row0 = pv * (depth // parts) + (kv + ahead) * rows
        per_line = max(1, 16 // inner)   # steps of jm per 64-byte line
        loads = []
        if FLAT:   # the pass's rows are one contiguous block: one prefetch per 64-byte line of it
            lines = rows * n * 4 // 64
            steps = n // inner
            per_step = -(-lines // steps)
            for l in range(per_step):
                flat = jv * (per_step * 16) + l * 16
                loads.append(tirx.BufferLoad(w, [tirx.min(row0 + flat // n, depth - 1), flat % n]))
        else:
            for r in range(rows):
                row = tirx.min(row0 + r, depth - 1)
                loads.append(tirx.BufferLoad(w, [row, jv * inner]))
        sch.unroll(ku)
        sch.vectorize(ji)
        vectorize_inner(sch, sch.decompose_reduction(copies, kb), lanes)
        prefetch_each_step(sch, jm, loads)
        if os.environ.get("SHOW"):
            print(sch.mod)
        if out is not None:
            vectorize_inner(sch, out, lanes)
        return sch
    def traced(*a):
        try:
            return gemv(*a)
        except Exception:
            import traceback; traceback.print_exc(); raise
    return traced


K, N = map(int, sys.argv[1].split(","))
aheads = [int(a) for a in sys.argv[4].split(",")]
spec = get_target("x86", num_cores=T_, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(K, N)).eval()
Path("/tmp/probe/gemv").mkdir(parents=True, exist_ok=True)
path = export_onnx(net, (1, K, 1, 1), Path(f"/tmp/probe/gemv/l{K}-{N}.onnx"))
xn = np.random.default_rng(0).standard_normal((1, K, 1, 1)).astype("float32")
x, want = tvm.runtime.tensor(xn), net(torch.from_numpy(xn)).detach().numpy()
names, vms = ["rows"] + [f"pf{a}" for a in aheads], {}
for v in names:
    rule = el._axpy_gemv if v == "rows" else prefetching_gemv(int(v[2:]))
    with patch.object(el, "_axpy_gemv", rule):
        mod, _ = import_model(path, (1, K, 1, 1))
        vms[v] = relax.VirtualMachine(compile_lowered(lower_relax(mod, spec, "lutnas-cpu"), spec), tvm.cpu())
    print(f"{v}: max |torch - tvm| {np.abs(vms[v]['main'](x).numpy() - want).max():.2g}", flush=True)
res = time_alternately(vms, x, int(sys.argv[3]))
mb = K * N * 4 / 1e6
for cold in (False, True):
    base = np.array(res[(names[0], cold)])
    print(("flushed" if cold else "hot    ") + ": " + "  ".join(
        f"{v} {np.median(res[(v, cold)]):6.1f} us ({mb / np.median(res[(v, cold)]) * 1e3:4.1f} GB/s) x{np.median(np.array(res[(v, cold)]) / base):.3f}" for v in names))
