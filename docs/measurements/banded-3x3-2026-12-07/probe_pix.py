"""Flushed timing of the ofa head's 960->1280 1x1 conv on one pixel (+ hardswish) against Linear(960,1280)+hardswish."""
import os, sys
os.environ.setdefault("TVM_NUM_THREADS", "1")
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np, torch, tvm
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.profiler.kernel_timing import kernel_arguments
K, N, rounds = 960, 1280, int(sys.argv[1])
target = get_target("x86", num_cores=1, **host_cpu_options())
models = {"conv": (torch.nn.Sequential(torch.nn.Conv2d(K, N, 1), torch.nn.Hardswish()), (1, K, 1, 1)),
          "linear": (torch.nn.Sequential(torch.nn.Linear(K, N), torch.nn.Hardswish()), (1, K))}
calls = {}
for name, (m, shape) in models.items():
    work = Path(f"/tmp/probe/gemv/pix-{name}"); work.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(m.eval(), shape, work / "m.onnx")
    ks = [k for k in kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", 1, 30, work, "hot") if k.flops > 0]
    print(name, [(k.kind, k.shape, k.name) for k in ks], flush=True)
    k = max(ks, key=lambda k: k.flops)
    lib = tvm.runtime.load_module(str(k.job.library_path))
    f = lib.time_evaluator(k.job.function, tvm.cpu(), number=1, repeat=20, min_repeat_ms=0, f_preproc="cache_flush_cpu_non_first_arg")
    args = kernel_arguments(k.job, tvm.cpu()); print([a.shape for a in args]); f(*args)
    calls[name] = (f, args)
res = {n: [] for n in calls}
for r in range(rounds):
    for n in (list(calls) if r % 2 == 0 else list(calls)[::-1]):
        f, a = calls[n]; res[n].append(np.median(f(*a).results) * 1e6)
for n in res:
    t = np.median(res[n]); print(f"{n:7s} {t:7.1f} us  {K*N*4/t/1e3:5.1f} GB/s  x{np.median(np.array(res[n])/np.array(res['conv'])):.3f}")
