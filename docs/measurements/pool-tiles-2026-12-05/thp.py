import sys, time, numpy as np, tvm
from tvm import relax
from lutnas.lowering import get_target
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.pipeline import build_pipeline
spec = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu())); target = spec.tvm_target()
shape=(1,3,224,224)
mod = import_onnx("/tmp/vt/ofa-mbv30.onnx", shape).mod
ex = tvm.compile(mod, target=target, relax_pipeline=build_pipeline("lutnas-cpu", target))
vm = relax.VirtualMachine(ex, tvm.cpu())
x = tvm.runtime.tensor(np.zeros(shape, "float32"))
for _ in range(20): vm["main"](x)
ts=[]
for _ in range(200):
    t=time.perf_counter(); vm["main"](x); ts.append(time.perf_counter()-t)
print("median", np.median(ts)*1e3)
tot=0
for line in open("/proc/self/smaps_rollup"):
    if "AnonHugePages" in line or "Rss" in line: print(line.strip())
