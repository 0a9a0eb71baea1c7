"""A network library's VM `main` called in a loop for SECONDS (for `perf record -p`, `perf annotate`).
python loop.py NET.so THREADS SECONDS"""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = sys.argv[2]
import numpy as np, tvm
from tvm import relax
vm = relax.VirtualMachine(tvm.runtime.load_module(sys.argv[1]), tvm.cpu())
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype("float32"), tvm.cpu())
t0 = time.time(); n = 0
while time.time() - t0 < float(sys.argv[3]):
    vm["main"](x); n += 1
print(n, "runs", (time.time() - t0) / n * 1e3, "ms")
