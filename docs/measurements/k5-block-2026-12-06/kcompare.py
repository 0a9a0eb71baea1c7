"""Marginal cost of a larger window: the 32 -> 144 -> 32 inverted residual at 56x56 with a 3x3, 5x5 and
7x7 depthwise, each built by lutnas-cpu, its fused kernel timed hot in alternating blocks.
python kcompare.py THREADS ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[1]
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np
import torch
from torch import nn
import tvm
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.profiler.kernel_timing import kernel_arguments

threads, rounds = int(sys.argv[1]), int(sys.argv[2])
k = int(sys.argv[3]) if len(sys.argv) > 3 else 5


def block(pad):
    return nn.Sequential(nn.Conv2d(32, 144, 1), nn.ReLU(), nn.Conv2d(144, 144, k, padding=pad, groups=144), nn.ReLU(),
                         nn.Conv2d(144, 32, 1)).eval()


target = get_target("x86", num_cores=threads, **host_cpu_options())
dev = tvm.cpu()
fns = {}
for label, kk in (("k3", 3), ("k5", 5), ("k7", 7)):
    k, pad = kk, kk // 2
    shape = (1, 32, 56 + 2 * (k // 2 - pad), 56 + 2 * (k // 2 - pad))   # 56x56 out either way
    work = Path(f"/tmp/probe/kcmp/{label}-{threads}"); work.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(block(pad), shape, work / "b.onnx")
    ks = [x for x in kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 30, work, "hot") if x.flops > 0]
    main = max(ks, key=lambda x: x.flops)
    print(label, [(x.kind, x.shape, x.name[:60]) for x in ks])
    lib = tvm.runtime.load_module(str(main.job.library_path))
    args = kernel_arguments(main.job, dev)
    f = lib.time_evaluator(main.job.function, dev, number=5, repeat=1, min_repeat_ms=0)
    f(*args)
    out_px = 56 * 56
    fns[label] = (f, args, out_px, main.flops)
res = {label: [] for label in fns}
for r in range(rounds):
    for label in (fns if r % 2 == 0 else list(fns)[::-1]):
        f, args, px, _ = fns[label]
        res[label].append(f(*args).mean * 1e6)
for label, (f, a, px, flops) in fns.items():
    t = np.median(res[label])
    print(f"{label:8s} {t:7.1f} us, {px} px, {t / px * 1000:.1f} ns/px, {flops / t / 1e3:.1f} GFLOP/s")


