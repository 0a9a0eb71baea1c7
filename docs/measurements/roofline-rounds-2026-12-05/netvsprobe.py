"""A network's fused kernel against the same-shape probe block's kernel, interleaved: python netvsprobe.py SPACE IDX NAME_SUBSTR SPEC"""
import sys, tempfile
from pathlib import Path
sys.path.insert(0, "/work/main/docs/measurements/strip-prefetch-2026-12-05")
import numpy as np, tvm
import probe_kernels as pk
from lutnas.lowering import export_onnx
from lutnas.spaces import get_space
from lutnas.lowering.kernels import enumerate_kernels, export_module
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.profiler.kernel_timing import KernelJob
space_name, idx, sub, spec = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
space = get_space(space_name); rng = np.random.default_rng(0)
arch = [space.sample(rng) for _ in range(idx + 1)][-1]
shape = (1, 3, 224, 224); wd = Path(tempfile.mkdtemp())
onnx_path = export_onnx(space.build(arch, 224), shape, wd / "net.onnx")
lowered = lower_relax(import_model(onnx_path, shape)[0], pk.TARGET, "lutnas-cpu")
kernels = enumerate_kernels(lowered, shape, "lutnas-cpu")
klib = export_module(compile_lowered(lowered, pk.TARGET).mod.imports[0], wd / "k.so", pk.TARGET)
info = next(i for i in kernels.kernels if sub in i.name)
print(info.name, [tuple(p.shape) for p in info.params])
netjob = KernelJob(info.signature, klib, info.name, [p.shape for p in info.params], [p.dtype for p in info.params],
                   target=pk.TARGET.name, threads=1, repeats=20, min_repeat_ms=0.0)
net, bshape = pk.block(spec)
probe = pk.kernel_jobs(net, bshape, spec.replace(",", "_") + "_nvp")
print("probe params", [j.shapes for _, j in probe])
tot = pk.time_variants([[(1, netjob)], probe], rounds=7)
print(f"network kernel {np.median(tot[0]):.1f} us, probe kernel {np.median(tot[1]):.1f} us, ratio {np.median(tot[0]/tot[1]):.3f}")
