"""Depthwise with padding (conditions in the loop) vs without (input grown by k-1 instead), per FLOP."""
import sys, numpy as np, torch, tvm
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.kernels import enumerate_kernels, export_module
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.profiler.kernel_timing import KernelJob
from lutnas.profiler.runners import LocalRunner
target = get_target("x86", mcpu=system_cpu())
runner = LocalRunner(target, "tvm", 1)
def jobs(net, shape, tag):
    p = export_onnx(net, shape, Path(f"/tmp/r17/dw/{tag}.onnx"))
    mod, _ = import_model(p, shape)
    lowered = lower_relax(mod, target, "lutnas-cpu")
    ks = enumerate_kernels(lowered, shape, "lutnas-cpu")
    lib = export_module(compile_lowered(lowered, target).mod.imports[0], Path(f"/tmp/r17/dw/{tag}.so"), target)
    return [(info.name, calls, KernelJob(info.signature, lib, info.name, [q.shape for q in info.params],
             [q.dtype for q in info.params], target=target.name, threads=1, repeats=20, min_repeat_ms=0.0))
            for info, calls in zip(ks.kernels, ks.calls) if "conv2d" in info.name]
for a in sys.argv[1:]:
    c, hw, k, s = map(int, a.split(","))
    padded = torch.nn.Sequential(torch.nn.Conv2d(c, c, k, s, k // 2, groups=c), torch.nn.ReLU6()).eval()
    grown = torch.nn.Sequential(torch.nn.Conv2d(c, c, k, s, 0, groups=c), torch.nn.ReLU6()).eval()
    g = hw + 2 * (k // 2)
    variants = [jobs(padded, (1, c, hw, hw), f"pad{a}"), jobs(grown, (1, c, g, g), f"grown{a}")]
    tot = [[], []]
    for r in range(9):
        for i, js in enumerate(variants):
            tot[i].append(sum(float(np.median(runner.measure_kernel(j).samples_ms)) * 1e3 * n for _, n, j in js))
    print(f"{a}: padded {np.median(tot[0]):.1f} us, grown input without padding {np.median(tot[1]):.1f} us; x{np.median(np.array(tot[1]) / np.array(tot[0])):.3f}", flush=True)
