"""One 1x1 convolution (+bias, ReLU) alone, built by lutnas-cpu under patched settings, its kernel timed
hot (MODE=flush: weights and output evicted before each call) in alternating blocks; prints per-variant time.
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
    if os.environ.get("MODE") == "flush":   # every argument but the input evicted before each call
        f = lib.time_evaluator(k.job.function, dev, number=1, repeat=10, min_repeat_ms=0,
                               f_preproc="cache_flush_cpu_non_first_arg")
    else:
        f = lib.time_evaluator(k.job.function, dev, number=10, repeat=1, min_repeat_ms=0)
    f(*args)
    calls[label] = (f, args, k.flops)
res = {label: [] for label, _ in variants}
for r in range(rounds):
    for label, _ in (variants if r % 2 == 0 else variants[::-1]):
        f, a, _ = calls[label]
        res[label].append(f(*a).mean * 1e6)
for label, _ in variants:
    t = np.median(res[label]); ratio = np.median(np.array(res[label]) / np.array(res["base"]))
    print(f"{label:16s} {t:8.1f} us  {calls[label][2] / t / 1e3:6.1f} GFLOP/s  x{ratio:.3f}")
