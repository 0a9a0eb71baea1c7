"""A depthwise (+ReLU6, +1x1 when F given) block's kernels without and with rules.nhwc.PREFETCH_ROWS, timed alone hot."""
import sys, numpy as np, torch, tvm
from unittest.mock import patch
import lutnas.lowering.rules.nhwc as nhwc
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.kernels import enumerate_kernels, export_module
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.profiler.kernel_timing import KernelJob
from lutnas.profiler.runners import LocalRunner
target = get_target("x86", mcpu=system_cpu())
runner = LocalRunner(target, "tvm", 1)
def jobs(p, shape, on, tag):
    mod, _ = import_model(p, shape)
    with patch.object(nhwc, "PREFETCH_ROWS", on):
        lowered = lower_relax(mod, target, "lutnas-cpu")
    ks = enumerate_kernels(lowered, shape, "lutnas-cpu")
    ex = compile_lowered(lowered, target)
    lib = export_module(ex.mod.imports[0], Path(f"/tmp/r17/dw/{tag}.so"), target)
    return [(info.name, calls, KernelJob(info.signature, lib, info.name, [q.shape for q in info.params],
             [q.dtype for q in info.params], target=target.name, threads=1, repeats=20, min_repeat_ms=0.0))
            for info, calls in zip(ks.kernels, ks.calls) if "conv2d" in info.name]
for a in sys.argv[1:]:
    c, hw, k, s, *f = map(int, a.split(","))
    layers = [torch.nn.Conv2d(c, c, k, s, k // 2, groups=c), torch.nn.ReLU6()] + ([torch.nn.Conv2d(c, f[0], 1)] if f else [])
    net = torch.nn.Sequential(*layers).eval()
    shape = (1, c, hw, hw)
    p = export_onnx(net, shape, Path(f"/tmp/r17/dw/e{a}.onnx"))
    variants = [jobs(p, shape, {}, "plain" + a), jobs(p, shape, {"s_tir.LoopPartition": {"partition_const_loop": True}}, "lp" + a)]
    tot = [[], []]
    for r in range(9):
        for i, js in enumerate(variants):
            tot[i].append(sum(float(np.median(runner.measure_kernel(j).samples_ms)) * 1e3 * c for _, c, j in js))
    flops = 2 * c * (hw // s) ** 2 * k * k / 1e6
    print(f"{a}: off {np.median(tot[0]):.1f} us ({flops / np.median(tot[0]) * 1e3:.0f} GFLOP/s dw), row prefetch {np.median(tot[1]):.1f} us; x{np.median(np.array(tot[1]) / np.array(tot[0])):.3f}", flush=True)
