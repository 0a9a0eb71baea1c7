"""A batch-1 dense layer K -> N (torch Linear) alone: lutnas-cpu's axpy gemv as shipped ('rows': each pass
reads GEMV_ROWS weight rows side by side) against its weights stored in blocks of those rows interleaved,
[k / rows, j / inner, rows, inner], packed at compile time ('pack'), timed alternately hot and after a
64 MB write.  python gemvpack.py K,N T ROUNDS"""
import os, sys
T_ = int(sys.argv[2]); os.environ["TVM_NUM_THREADS"] = str(T_)
import numpy as np, torch, tvm
sys.path.insert(0, "/work/main/docs/measurements/head-chains-2026-12-06")
from alternate import time_alternately
from unittest.mock import patch
from pathlib import Path
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
import lutnas.lowering.rules.elementwise as el
from lutnas.lowering.rules.base import REDUCE_ITER, SPATIAL_ITER, largest_divisor, partial_outputs, uses_var, vectorize_inner


def packed_gemv(sch, red, out, reduce_, inner, lanes):
    """rules.elementwise._axpy_gemv (revision 33) with its weights packed in blocks of interleaved rows."""
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
    packed = sch.cache_read(copies, index, "global")
    sch.transform_layout(packed, ("write", 0), lambda a, b: (a // rows, b // inner, a % rows, b % inner))
    sch.annotate(packed, "meta_schedule.layout_rewrite_preproc", True)
    sch.parallel(sch.fuse(part, *unit) if unit else part)
    sch.unroll(ku)
    sch.vectorize(ji)
    vectorize_inner(sch, sch.decompose_reduction(copies, kb), lanes)
    if out is not None:
        vectorize_inner(sch, out, lanes)
    return sch


K, N = map(int, sys.argv[1].split(","))
spec = get_target("x86", num_cores=T_, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(K, N)).eval()
Path("/tmp/probe/gemv").mkdir(parents=True, exist_ok=True)
path = export_onnx(net, (1, K, 1, 1), Path(f"/tmp/probe/gemv/l{K}-{N}.onnx"))
xn = np.random.default_rng(0).standard_normal((1, K, 1, 1)).astype("float32")
x, want = tvm.runtime.tensor(xn), net(torch.from_numpy(xn)).detach().numpy()
names, vms = ["rows", "pack"], {}
for v in names:
    with patch.object(el, "_axpy_gemv", packed_gemv if v == "pack" else el._axpy_gemv):
        mod, _ = import_model(path, (1, K, 1, 1))
        vms[v] = relax.VirtualMachine(compile_lowered(lower_relax(mod, spec, "lutnas-cpu"), spec), tvm.cpu())
    print(f"{v}: max |torch - tvm| {np.abs(vms[v]['main'](x).numpy() - want).max():.2g}")
res = time_alternately(vms, x, int(sys.argv[3]))
mb = K * N * 4 / 1e6
for cold in (False, True):
    base = np.array(res[(names[0], cold)])
    print(("flushed" if cold else "hot    ") + ": " + "  ".join(
        f"{v} {np.median(res[(v, cold)]):6.1f} us ({mb / np.median(res[(v, cold)]) * 1e3:4.1f} GB/s) x{np.median(np.array(res[(v, cold)]) / base):.3f}" for v in names))
