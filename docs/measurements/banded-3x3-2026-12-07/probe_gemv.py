"""Prefetch ahead in the batch-1 dense layer's axpy stream (rules.elementwise._axpy_gemv).
python probe_gemv.py K N ROUNDS D1,D2,... : flushed timing of Linear(K, N), distance D rows (0 = rule as is)."""
import os, sys, contextlib
os.environ.setdefault("TVM_NUM_THREADS", "1")
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from unittest.mock import patch
import numpy as np, torch
import tvm
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.rules import elementwise as ew
from lutnas.lowering.rules.base import largest_divisor, partial_outputs, vectorize_inner
from lutnas.lowering.rules.nhwc import prefetch_each_step
from lutnas.profiler.kernel_timing import kernel_arguments

ORIG = ew._axpy_gemv

def axpy_prefetch(distance):
    def gemv(sch, red, out, reduce_, inner, lanes):
        from tvm import tirx
        k = sch.fuse(*reduce_) if len(reduce_) > 1 else reduce_[0]
        depth = int(sch.get(k).extent)
        parts = largest_divisor(depth, ew.GEMV_PARTS)
        copies = partial_outputs(sch, red, k, parts, inner, lanes)
        *unit, j, part, rows_k = sch.get_loops(copies)
        rows = largest_divisor(depth // parts, ew.GEMV_ROWS)
        kb, ku = sch.split(rows_k, factors=[None, rows])
        jm, ji = sch.split(j, factors=[None, inner])
        sch.reorder(part, *unit, kb, jm, ku, ji)
        pl = sch.fuse(part, *unit) if unit else part
        sch.parallel(pl)
        sch.unroll(ku)
        sch.vectorize(ji)
        vectorize_inner(sch, sch.decompose_reduction(copies, kb), lanes)
        if out is not None:
            vectorize_inner(sch, out, lanes)
        w = [r.source for r in sch.get(copies).reads if len(r.source.shape) == 2 and int(r.source.shape[0]) == depth][0]
        pv, kv, jv = (sch.get(l).loop_var for l in (pl, kb, jm))
        n = int(w.shape[1])
        per_line = max(1, 16 // inner)
        row0 = pv * (depth // parts) + (kv + distance) * rows
        loads = [tirx.BufferLoad(w, [tirx.min(row0 + r, depth - 1), jv * inner]) for r in range(rows)]
        prefetch_each_step(sch, jm, loads)
        return sch
    return gemv

K, N, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
dists = [int(v) for v in sys.argv[4].split(",")]
mode = os.environ.get("MODE", "flush")
target = get_target("x86", num_cores=1, **host_cpu_options())
work = Path(f"/tmp/probe/gemv/{K}x{N}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(torch.nn.Sequential(torch.nn.Linear(K, N)).eval(), (1, K), work / "m.onnx")
dev = tvm.cpu()
calls = {}
for d in dists:
    dd = work / f"d{d}"; dd.mkdir(exist_ok=True)
    ctx = patch.object(ew, "_axpy_gemv", axpy_prefetch(d)) if d else contextlib.nullcontext()
    with ctx:
        ks = [k for k in kr.tvm_kernels(onnx, (1, K), target, "lutnas-cpu", 1, 30, dd, "hot") if k.flops > 0]
    print(d, [(k.kind, k.shape, k.name) for k in ks], flush=True)
    k = ks[0]
    lib = tvm.runtime.load_module(str(k.job.library_path))
    pre = "cache_flush_cpu_non_first_arg" if mode == "flush" else ""
    f = lib.time_evaluator(k.job.function, dev, number=1, repeat=20, min_repeat_ms=0, f_preproc=pre)
    args = kernel_arguments(k.job, dev)
    print([a.shape for a in args])
    f(*args)
    calls[d] = (f, args)
res = {d: [] for d in dists}
for r in range(rounds):
    for d in (dists if r % 2 == 0 else dists[::-1]):
        f, a = calls[d]
        res[d].append(np.median(f(*a).results) * 1e6)
base = np.array(res[dists[0]])
for d in dists:
    t = np.array(res[d]); print(f"d={d:3d} median {np.median(t):7.1f} us  {K*N*4/np.median(t)/1e3:5.1f} GB/s  x{np.median(t/base):.3f}")
