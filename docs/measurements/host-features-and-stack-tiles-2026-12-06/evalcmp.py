import os, sys, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
import numpy as np
import tvm
from tvm import relax
shape = (1, 3, 224, 224)
vm = relax.VirtualMachine(tvm.runtime.load_module("/tmp/probe/net.so"), tvm.cpu())
xt = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
for _ in range(5): vm["main"](xt)
f = vm["main"]
for r in range(5):
    te = vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(xt).mean * 1e3
    t0 = time.perf_counter()
    for _ in range(10): f(xt)
    py = (time.perf_counter() - t0) / 10 * 1e3
    print(f"time_evaluator {te:.3f} ms   python loop {py:.3f} ms")
