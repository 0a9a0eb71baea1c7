"""One process: several VM instances of one model (each its own buffers); time each in interleaved rounds."""
import os, sys
os.environ.setdefault("TVM_NUM_THREADS", "1")
import numpy as np, tvm
from tvm.runtime.vm import VirtualMachine
L = "/tmp/k14/cache/libs/"
h, shape = sys.argv[1], tuple(int(s) for s in sys.argv[2].split(","))
dev = tvm.cpu()
lib = tvm.runtime.load_module(L + h + ".so")
vms, junk = [], []
for i in range(int(sys.argv[3])):
    junk.append(np.empty(np.random.default_rng(i).integers(1, 40000), dtype=np.uint8))  # shift the heap
    vm = VirtualMachine(lib, dev)
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"), dev)
    for _ in range(20): vm["main"](x)
    vms.append((vm, x))
res = [[] for _ in vms]
for r in range(7):
    for i, (vm, x) in enumerate(vms):
        t = vm.time_evaluator("main", dev, number=200, repeat=3, min_repeat_ms=0)(x)
        res[i].append(float(np.median(t.results)) * 1e6)
print(" ".join(f"{np.median(v):6.1f}" for v in res))
