"""Worker: load a network library, run it, print the median ms of RUNS back-to-back runs and the
process's AnonHugePages. python hpw.py LIB RUNS"""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np, tvm
from tvm.runtime.vm import VirtualMachine
lib = tvm.runtime.load_module(sys.argv[1])
f = VirtualMachine(lib, tvm.cpu())["main"]
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype("float32"))
for _ in range(20): f(x)
ts = []
for _ in range(int(sys.argv[2])):
    s = time.perf_counter(); f(x); ts.append(time.perf_counter() - s)
huge = [l for l in open("/proc/self/smaps_rollup") if l.startswith("AnonHugePages")][0].split()[1]
print(f"{np.median(ts) * 1e3:.4f} {huge}")
