import os, sys, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
import numpy as np
import tvm
from tvm import relax
vm = relax.VirtualMachine(tvm.runtime.load_module(sys.argv[1]), tvm.cpu())
xt = tvm.runtime.tensor(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype("float32"), tvm.cpu())
for _ in range(5): vm["main"](xt)
print("ready", flush=True)
t0 = time.time(); n = 0
while time.time() - t0 < float(sys.argv[2]):
    vm["main"](xt); n += 1
print(f"{n} runs, {(time.time()-t0)/n*1e3:.3f} ms each", flush=True)
