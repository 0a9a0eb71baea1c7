"""Minor page faults per network run.  python faults.py NET.so THREADS RUNS"""
import os, sys, resource, time
os.environ["TVM_NUM_THREADS"] = sys.argv[2]
import numpy as np, tvm
from tvm import relax
vm = relax.VirtualMachine(tvm.runtime.load_module(sys.argv[1]), tvm.cpu())
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype("float32"), tvm.cpu())
for _ in range(20): vm["main"](x)
n = int(sys.argv[3])
r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
for _ in range(n): vm["main"](x)
t1 = time.perf_counter(); r1 = resource.getrusage(resource.RUSAGE_SELF)
print(f"{(t1-t0)/n*1e3:.3f} ms/run, minor faults/run {(r1.ru_minflt-r0.ru_minflt)/n:.1f}, major {(r1.ru_majflt-r0.ru_majflt)/n:.2f}, "
      f"sys s/run {(r1.ru_stime-r0.ru_stime)/n*1e3:.3f} ms, user {(r1.ru_utime-r0.ru_utime)/n*1e3:.3f} ms")
