"""A batch-1 dense layer K -> N (torch Linear) alone, lutnas-cpu's axpy gemv rule with variants, timed
alternately hot and after a 64 MB write.  python gemvab.py K,N T ROUNDS VARIANT...
VARIANT: 'cur' or 'pfD' (prefetch the row block D blocks ahead, spread over the output vectors)"""
import os, sys
T_ = int(sys.argv[2]); os.environ["TVM_NUM_THREADS"] = str(T_)
import numpy as np, torch, tvm
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alternate import time_alternately
from unittest.mock import patch
from pathlib import Path
from tvm import relax, tirx
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
import lutnas.lowering.rules.elementwise as el
from lutnas.lowering.rules.base import largest_divisor, partial_outputs, vectorize_inner
from lutnas.lowering.rules.nhwc import prefetch_each_step

def gemv_pf(ahead, rows=None):
    def _axpy_gemv(sch, red, out, reduce_, inner, lanes):
        k = sch.fuse(*reduce_) if len(reduce_) > 1 else reduce_[0]
        depth = int(sch.get(k).extent)
        parts = largest_divisor(depth, el.GEMV_PARTS)
        copies = partial_outputs(sch, red, k, parts, inner, lanes)
        *unit, j, part, rows_k = sch.get_loops(copies)
        nrows = largest_divisor(depth // parts, rows or el.GEMV_ROWS)
        kb, ku = sch.split(rows_k, factors=[None, nrows])
        jm, ji = sch.split(j, factors=[None, inner])
        sch.reorder(part, *unit, kb, jm, ku, ji)
        par = sch.fuse(part, *unit) if unit else part
        sch.parallel(par)
        sch.unroll(ku)
        sch.vectorize(ji)
        if ahead:
            w = [r.source for r in sch.get(copies).reads if len(r.region) == 2][-1]
            n = int(w.shape[1]); per_block = nrows * n * 4 // 64; vecs = int(sch.get(jm).extent)
            per_step = -(-per_block // vecs)
            kbv, jmv, pv = sch.get(kb).loop_var, sch.get(jm).loop_var, sch.get(par).loop_var
            rows_per_part = depth // parts
            row = tirx.min(pv * rows_per_part + (kbv + ahead) * nrows, depth - 1)
            loads = [tirx.BufferLoad(w, [row, (jmv * per_step + i) * 16]) for i in range(per_step)]
            prefetch_each_step(sch, jm, loads)
        vectorize_inner(sch, sch.decompose_reduction(copies, kb), lanes)
        if out is not None:
            vectorize_inner(sch, out, lanes)
        return sch
    return _axpy_gemv

K, N = map(int, sys.argv[1].split(","))
spec = get_target("x86", num_cores=T_, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(K, N)).eval()
Path("/tmp/probe/gemv").mkdir(parents=True, exist_ok=True)
path = export_onnx(net, (1, K, 1, 1), Path(f"/tmp/probe/gemv/l{K}-{N}.onnx"))
xn = np.random.default_rng(0).standard_normal((1, K, 1, 1)).astype("float32")
x, want = tvm.runtime.tensor(xn), net(torch.from_numpy(xn)).detach().numpy()
names, vms = sys.argv[4:], {}
for v in names:
    if v == "cur": f = el._axpy_gemv
    elif v.startswith("pf"): a, _, r = v[2:].partition("r"); f = gemv_pf(int(a), int(r) if r else None)
    with patch.object(el, "_axpy_gemv", f):
        mod, _ = import_model(path, (1, K, 1, 1))
        vms[v] = relax.VirtualMachine(compile_lowered(lower_relax(mod, spec, "lutnas-cpu"), spec), tvm.cpu())
    print(f"{v}: max |torch - tvm| {np.abs(vms[v]['main'](x).numpy() - want).max():.2g}")
res = time_alternately(vms, x, int(sys.argv[3]))
mb = K * N * 4 / 1e6
for cold in (False, True):
    base = np.array(res[(names[0], cold)])
    print(("flushed" if cold else "hot    ") + ": " + "  ".join(
        f"{v} {np.median(res[(v, cold)]):6.1f} us ({mb / np.median(res[(v, cold)]) * 1e3:4.1f} GB/s) x{np.median(np.array(res[(v, cold)]) / base):.3f}" for v in names))
