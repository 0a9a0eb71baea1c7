"""Time chosen kernels of a network's library alone (hot), before and after running onnxruntime in-process."""
import sys, tempfile
from pathlib import Path
import numpy as np, tvm
from lutnas.lowering import export_onnx, get_target
from lutnas.spaces import get_space
from lutnas.lowering.kernels import enumerate_kernels, export_module
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.profiler.kernel_timing import KernelJob
from lutnas.profiler.measurement import MeasureJob
from lutnas.profiler.runners import LocalRunner
space_name, idx, res = sys.argv[1], int(sys.argv[2]), 224
space = get_space(space_name); rng = np.random.default_rng(0)
arch = [space.sample(rng) for _ in range(idx + 1)][-1]
target = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))
shape = (1, 3, res, res); wd = Path(tempfile.mkdtemp())
onnx_path = export_onnx(space.build(arch, res), shape, wd / "net.onnx")
lowered = lower_relax(import_model(onnx_path, shape)[0], target, "lutnas-cpu")
kernels = enumerate_kernels(lowered, shape, "lutnas-cpu")
klib = export_module(compile_lowered(lowered, target).mod.imports[0], wd / "k.so", target)
runner = LocalRunner(target, "tvm", 1)
jobs = [KernelJob(i.signature, klib, i.name, [p.shape for p in i.params], [p.dtype for p in i.params],
                  target=target.name, threads=1, repeats=30, min_repeat_ms=0.0) for i in kernels.kernels]
def sweep(tag):
    t = [float(np.median(runner.measure_kernel(j).samples_ms)) * 1e3 for j in jobs]
    return np.array(t)
import os
a = sweep("a"); b = sweep("b"); print("aff", os.sched_getaffinity(0))
orun = LocalRunner(target, "onnxruntime", 1)
orun.measure(MeasureJob("ort", shape, runtime="onnxruntime", onnx_path=onnx_path, target=target.name, threads=1, repeats=30, min_repeat_ms=0.0, warmup=5))
print("aff", os.sched_getaffinity(0)); c = sweep("c"); d = sweep("d"); print("d", d.sum().round(1))
print("sum", a.sum().round(1), b.sum().round(1), c.sum().round(1))
for i, info in enumerate(kernels.kernels):
    if max(a[i], b[i], c[i]) > 60:
        print(f"{info.name[:60]:60s} {a[i]:7.1f} {b[i]:7.1f} {c[i]:7.1f}")
