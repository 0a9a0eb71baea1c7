"""One process: whole-model time of TVM libs (and optionally ORT) ; print medians (us)."""
import os, sys, json
os.environ.setdefault("TVM_NUM_THREADS", "1")
import numpy as np, tvm
from tvm.runtime.vm import VirtualMachine
dev = tvm.cpu()
out = {}
for spec in sys.argv[1:]:
    path, shape = spec.split(":"); shape = tuple(int(s) for s in shape.split(","))
    vm = VirtualMachine(tvm.runtime.load_module(path), dev)
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"), dev)
    for _ in range(5): vm["main"](x)
    n = max(1, int(0.02 / max(vm.time_evaluator("main", dev, number=3, repeat=1)(x).mean, 1e-6)))
    out[os.path.basename(path)[:8]] = (vm, x, n, [])
for r in range(7):
    for k, (vm, x, n, res) in out.items():
        res.append(float(np.median(vm.time_evaluator("main", dev, number=n, repeat=3, min_repeat_ms=0)(x).results)) * 1e6)
print(os.environ.get("GLIBC_TUNABLES", "-"), json.dumps({k: round(float(np.median(v[3])), 1) for k, v in out.items()}))
