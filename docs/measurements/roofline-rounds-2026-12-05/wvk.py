"""Whole network vs the sum of its kernels alone, same process, interleaved rounds, TVM_NUM_THREADS=T."""
import os, sys, tempfile
from pathlib import Path
T = int(sys.argv[2]); os.environ["TVM_NUM_THREADS"] = str(T)
import numpy as np, tvm
from lutnas.lowering import export_onnx, get_target
from lutnas.spaces import get_space
from lutnas.lowering.kernels import enumerate_kernels, export_module
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.profiler.kernel_timing import KernelJob
from lutnas.profiler.measurement import MeasureJob
from lutnas.profiler.runners import LocalRunner

space_name, res = sys.argv[1], int(sys.argv[3]) if len(sys.argv) > 3 else 224
space = get_space(space_name); rng = np.random.default_rng(0); archs = [space.sample(rng) for _ in range(int(sys.argv[4]) + 1 if len(sys.argv) > 4 else 1)]; arch = archs[-1]
target = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))
shape = (1, 3, res, res); wd = Path(tempfile.mkdtemp())
onnx_path = export_onnx(space.build(arch, res), shape, wd / "net.onnx")
mod, _ = import_model(onnx_path, shape)
lowered = lower_relax(mod, target, "lutnas-cpu")
kernels = enumerate_kernels(lowered, shape, "lutnas-cpu")
ex = compile_lowered(lowered, target)
klib = export_module(ex.mod.imports[0], wd / "net.kernels.so", target)
whole_lib = wd / "net.so"; ex.export_library(str(whole_lib))
runner = LocalRunner(target, "tvm", T); oruner = LocalRunner(target, "onnxruntime", T)
ojob = MeasureJob("ort", shape, runtime="onnxruntime", onnx_path=onnx_path, target=target.name, threads=T, repeats=30, min_repeat_ms=0.0, warmup=5)
wjob = MeasureJob("net", shape, library_path=whole_lib, target=target.name, threads=T, repeats=30, min_repeat_ms=0.0, warmup=5)
kjobs = [(c, KernelJob(i.signature, klib, i.name, [p.shape for p in i.params], [p.dtype for p in i.params],
          target=target.name, threads=T, repeats=30, min_repeat_ms=0.0)) for i, c in zip(kernels.kernels, kernels.calls)]
wh, ks, ors = [], [], []
for r in range(5):
    ors.append(float(np.median(oruner.measure(ojob).samples_ms)))
    wh.append(float(np.median(runner.measure(wjob).samples_ms)))
    ks.append(sum(c * float(np.median(runner.measure_kernel(j).samples_ms)) for c, j in kjobs))
wh, ks, ors = np.array(wh), np.array(ks), np.array(ors)
print("ort", np.round(ors,3), "whole", np.round(wh,3), "kern", np.round(ks,3))
print(f"whole/ort x{np.median(wh/ors):.3f} kernels/ort x{np.median(ks/ors):.3f}")
print(f"{space_name} @{res} T={T}: whole {np.median(wh):.3f} ms, kernels summed {np.median(ks):.3f} ms, whole/sum x{np.median(wh/ks):.3f} ({len(kjobs)} kernels, {sum(c for c,_ in kjobs)} calls)")
