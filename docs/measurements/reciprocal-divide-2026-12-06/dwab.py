"""A channels-last depthwise conv alone (C channels, HxW input, k, stride, + ReLU; a 1x1 before it so it
reads NHWC), built by lutnas-cpu for 1 thread with its tile's pixels capped at each PX, the kernels
timed hot alternately.  python dwab.py C,H,K,S ROUNDS PX..."""
import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from unittest.mock import patch
import numpy as np, torch, tvm
from torch import nn
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.rules import nhwc
from lutnas.profiler.kernel_timing import kernel_arguments

c, h, k, s = (int(v) for v in sys.argv[1].split(","))
rounds, caps = int(sys.argv[2]), [int(v) for v in sys.argv[3:]]
target = get_target("x86", num_cores=1, **host_cpu_options())
shape = (1, c, h, h)
net = nn.Sequential(nn.Conv2d(c, c, 1), nn.Conv2d(c, c, k, s, k // 2, groups=c), nn.ReLU()).eval()
dev, calls = tvm.cpu(), {}
for cap in caps:
    work = Path(f"/tmp/probe/dwab/{c}-{h}-{k}-{s}/{cap}"); work.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(net, shape, work / "dw.onnx")
    with patch.object(nhwc, "depthwise_accumulators", lambda target, cap=cap: cap):
        ks = kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", 1, 30, work, "hot")
    kern = next(x for x in ks if x.kind.startswith("depthwise"))
    lib = tvm.runtime.load_module(str(kern.job.library_path))
    args = kernel_arguments(kern.job, dev)
    f = lib.time_evaluator(kern.job.function, dev, number=20, repeat=1, min_repeat_ms=0)
    f(*args)
    calls[cap] = (f, args, kern.flops)
    print(cap, kern.name, kern.shape, flush=True)
res = {n: [] for n in calls}
for r in range(rounds):
    for n in (list(calls) if r % 2 == 0 else list(calls)[::-1]):
        f, a, _ = calls[n]
        res[n].append(f(*a).mean * 1e6)
first = caps[0]
for n in calls:
    t = np.median(res[n])
    print(f"px cap {n:2d}: {t:7.1f} us {calls[n][2] / t / 1e3:6.1f} GFLOP/s x{np.median(np.array(res[n]) / np.array(res[first])):.3f}")
