"""A depthwise block's kernel with the tile's pixel count forced (rules.nhwc.largest_divisor patched), timed alone hot."""
import sys, numpy as np, torch, tvm
from pathlib import Path
from unittest.mock import patch
import lutnas.lowering.rules.nhwc as nhwc
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.kernels import enumerate_kernels, export_module
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.profiler.kernel_timing import KernelJob
from lutnas.profiler.runners import LocalRunner
target = get_target("x86", mcpu=system_cpu())
runner = LocalRunner(target, "tvm", 1)
def jobs(p, shape, px, tag):
    mod, _ = import_model(p, shape)
    with patch.object(nhwc, "STRIDED_DEPTHWISE_PIXELS", px):
        lowered = lower_relax(mod, target, "lutnas-cpu")
    ks = enumerate_kernels(lowered, shape, "lutnas-cpu")
    lib = export_module(compile_lowered(lowered, target).mod.imports[0], Path(f"/tmp/r17/dw/{tag}.so"), target)
    return [(info.name, calls, KernelJob(info.signature, lib, info.name, [q.shape for q in info.params],
             [q.dtype for q in info.params], target=target.name, threads=1, repeats=20, min_repeat_ms=0.0))
            for info, calls in zip(ks.kernels, ks.calls) if "conv2d" in info.name]
a, pxs = sys.argv[1], [int(v) for v in sys.argv[2].split(",")]
c, hw, k, s, *f = map(int, a.split(","))
net = torch.nn.Sequential(*([torch.nn.Conv2d(c, c, k, s, k // 2, groups=c), torch.nn.ReLU6()] + ([torch.nn.Conv2d(c, f[0], 1)] if f else []))).eval()
shape = (1, c, hw, hw)
p = export_onnx(net, shape, Path(f"/tmp/r17/dw/px{a}.onnx"))
variants = [jobs(p, shape, px, f"px{px}_{a}") for px in pxs]
tot = [[] for _ in pxs]
for r in range(9):
    for i, js in enumerate(variants):
        tot[i].append(sum(float(np.median(runner.measure_kernel(j).samples_ms)) * 1e3 * n for _, n, j in js))
flops = 2 * c * (hw // s) ** 2 * k * k / 1e6
base = np.array(tot[0])
for px, t in zip(pxs, tot):
    print(f"{a} px {px}: {np.median(t):.1f} us ({flops / np.median(t) * 1e3:.0f} GFLOP/s), x{np.median(np.array(t) / base):.3f}", flush=True)
