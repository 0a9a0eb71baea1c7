"""One 1x1 convolution (+bias, ReLU) alone, built by lutnas-cpu under patched settings, its kernel timed
hot (MODES=hot,flush,flush_w,flush_o: flush evicts weights and output before each call, flush_w / flush_o one of them; every variant x mode alternating) in alternating blocks; prints per-variant time.
python onepw.py CIN COUT SIZE THREADS ROUNDS 'label:spec' ...  (spec as blockab.py's)"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[4]
sys.path.insert(0, "/work/main/bench"); sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pathlib import Path
import numpy as np
import torch
from torch import nn
import tvm
import kernel_roofline as kr
from blockab_lib import patched_or_config
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.profiler.kernel_timing import kernel_arguments

import tvm_ffi

_flush = tvm_ffi.get_global_func("cache_flush_cpu_non_first_arg")   # evicts its arguments after the first
tvm_ffi.register_global_func("probe.flush_weights", lambda *a: _flush(a[0], a[1]), override=True)
tvm_ffi.register_global_func("probe.flush_output", lambda *a: _flush(a[0], a[-1]), override=True)
MODES = os.environ.get("MODES", "hot").split(",")
PREPROC = {"flush": "cache_flush_cpu_non_first_arg", "flush_w": "probe.flush_weights", "flush_o": "probe.flush_output"}

cin, cout, size, threads, rounds = (int(v) for v in sys.argv[1:6])
variants = [("base", "")] + [tuple(v.split(":", 1)) for v in sys.argv[6:]]
target = get_target("x86", num_cores=threads, **host_cpu_options())
shape = (1, cin, size, size)
net = nn.Sequential(nn.Conv2d(cin, cin, 1), nn.Conv2d(cin, cout, 1), nn.ReLU()).eval()   # the first reads the NCHW input
dev = tvm.cpu()
calls = {}
for label, spec in variants:
    work = Path(f"/tmp/probe/onepw/{cin}-{cout}-{size}-{threads}/{label}"); work.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(net, shape, work / "pw.onnx")
    with patched_or_config(spec):
        ks = kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 30, work, "hot")
    k = max((x for x in ks if "from_nchw" not in x.name), key=lambda x: x.flops)
    print(label, k.name, k.shape, flush=True)
    lib = tvm.runtime.load_module(str(k.job.library_path))
    args = kernel_arguments(k.job, dev)
    args = kernel_arguments(k.job, dev)
    for mode in MODES:
        if mode == "hot":
            f = lib.time_evaluator(k.job.function, dev, number=10, repeat=1, min_repeat_ms=0)
        else:   # flush: every argument but the input evicted before each call; flush_w / flush_o: weights / output
            f = lib.time_evaluator(k.job.function, dev, number=1, repeat=10, min_repeat_ms=0, f_preproc=PREPROC[mode])
        f(*args)
        calls[f"{label} {mode}"] = (f, args, k.flops)
res = {name: [] for name in calls}
for r in range(rounds):
    for name in (list(calls) if r % 2 == 0 else list(calls)[::-1]):
        f, a, _ = calls[name]
        res[name].append(f(*a).mean * 1e6)
first = list(calls)[0]
for name in calls:
    t = np.median(res[name]); ratio = np.median(np.array(res[name]) / np.array(res[first]))
    print(f"{name:22s} {t:8.1f} us  {calls[name][2] / t / 1e3:6.1f} GFLOP/s  x{ratio:.3f} of {first}")
