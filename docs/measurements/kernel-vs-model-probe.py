"""One model: its VM main timed whole, and each kernel timed from the kernels library -- in the same
process, alternating, network-scale arguments (kernel_arguments)."""
import json, os, sys
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np
import tvm
from tvm.runtime.vm import VirtualMachine
from lutnas.profiler.kernel_timing import KernelJob, kernel_arguments
stem = sys.argv[1]
d = json.load(open(stem + ".kernels.json"))
dev = tvm.cpu()
model = tvm.runtime.load_module(stem + ".so")
vm = VirtualMachine(model, dev)
x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(d["input_shape"]).astype("float32"), dev)
klib = tvm.runtime.load_module(stem + ".kernels.so")
jobs = [KernelJob(key=k["signature"], library_path=stem, function=k["name"], shapes=tuple(tuple(s) for s, _ in k["params"]),
                  dtypes=tuple(t for _, t in k["params"])) for k in d["kernels"]]
args = [kernel_arguments(j, dev) for j in jobs]
for rnd in range(3):
    whole = min(vm.time_evaluator("main", dev, number=50, repeat=5)(x).results) * 1e6
    ks = [min(klib.time_evaluator(j.function, dev, number=50, repeat=5)(*a).results) * 1e6 for j, a in zip(jobs, args)]
    total = sum(c * t for c, t in zip(d["calls"], ks))
    print(f"round {rnd}: model {whole:8.1f} us, kernels alone summed {total:8.1f} us ({total / whole - 1:+.0%})")
top = sorted(zip(ks, d["calls"], [k["name"] for k in d["kernels"]]), reverse=True)[:5]
for t, c, n in top: print(f"   {c} x {t:7.1f} us {n[:70]}")
