"""Build one network (lutnas-cpu, host CPU), export its library as a .so, run it in a loop for perf."""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = "1"
from pathlib import Path
import numpy as np, tvm
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.spaces import get_space
space, idx, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
target = get_target("x86", num_cores=1, **host_cpu_options())
sp = get_space(space); rng = np.random.default_rng(0)
archs = [sp.sample(rng) for _ in range(idx + 1)]
shape = (1, 3, 224, 224)
path = export_onnx(sp.build(archs[idx], 224).eval(), shape, Path(f"/tmp/probe/work/{space}{idx}.onnx"))
mod, _ = import_model(path, shape)
ex = compile_lowered(lower_relax(mod, target, "lutnas-cpu"), target)
so = f"/tmp/probe/work/{space}{idx}.so"
ex.export_library(so)
vm = relax.VirtualMachine(tvm.runtime.load_module(so), tvm.cpu())
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
for _ in range(5): vm["main"](x)
print("ready", os.getpid(), flush=True)
t0 = time.perf_counter(); n = 0
while time.perf_counter() - t0 < secs:
    vm["main"](x); n += 1
print(f"{n} runs, {(time.perf_counter()-t0)/n*1e3:.3f} ms/run", flush=True)
