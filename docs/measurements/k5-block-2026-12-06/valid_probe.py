"""The 32 -> 144 -> 32 inverted residual, 56x56 out, built by lutnas-cpu, its fused kernel timed hot in
alternating blocks of 5 calls.
python valid_probe.py THREADS ROUNDS padding [K]: is it the border tests? the KxK (default 5x5)
  depthwise padded, against unpadded on a larger input (no border test in any tap);
python valid_probe.py THREADS ROUNDS windows: the marginal cost of a larger window (3x3, 5x5, 7x7).
(kcompare.py's runs of 2026-12-06 were the `windows` mode.)"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[1]
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np
from torch import nn
import tvm
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.profiler.kernel_timing import kernel_arguments

threads, rounds, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
k = int(sys.argv[4]) if len(sys.argv) > 4 else 5
# label -> (window, padding)
builds = {"padded": (k, k // 2), "valid": (k, 0)} if mode == "padding" else {f"k{w}": (w, w // 2) for w in (3, 5, 7)}


def block(window, pad):
    return nn.Sequential(nn.Conv2d(32, 144, 1), nn.ReLU(), nn.Conv2d(144, 144, window, padding=pad, groups=144),
                         nn.ReLU(), nn.Conv2d(144, 32, 1)).eval()


target = get_target("x86", num_cores=threads, **host_cpu_options())
dev = tvm.cpu()
fns = {}
for label, (window, pad) in builds.items():
    side = 56 + 2 * (window // 2 - pad)   # 56x56 out either way
    shape = (1, 32, side, side)
    work = Path(f"/tmp/probe/valid/{mode}-{label}-{threads}"); work.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(block(window, pad), shape, work / "b.onnx")
    main = max(kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 30, work, "hot"), key=lambda x: x.flops)
    print(label, main.kind, main.shape, main.name[:60])
    lib = tvm.runtime.load_module(str(main.job.library_path))
    args = kernel_arguments(main.job, dev)
    f = lib.time_evaluator(main.job.function, dev, number=5, repeat=1, min_repeat_ms=0)
    f(*args)
    fns[label] = (f, args, main.flops)
res = {label: [] for label in fns}
for r in range(rounds):
    for label in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
        f, args, _ = fns[label]
        res[label].append(f(*args).mean * 1e6)
for label, (_, _, flops) in fns.items():
    t = np.median(res[label])
    print(f"{label:8s} {t:7.1f} us, {t / 3136 * 1000:.1f} ns per output pixel, {flops / t / 1e3:.1f} GFLOP/s")
if mode == "padding":
    ratio = np.median(np.array(res["valid"]) / np.array(res["padded"]))
    print(f"valid/padded: x{ratio:.3f} (valid expands {(56 + k - 1) ** 2 / 56 ** 2:.3f}x the pixels)")
