"""One process: load models, time each whole in interleaved rounds; print per-model median and ratio to ref."""
import os, sys, json
os.environ.setdefault("TVM_NUM_THREADS", "1")
import numpy as np, tvm
from tvm.runtime.vm import VirtualMachine
L = "/tmp/k14/cache/libs/"
models = {"mixer0-r64": ("4d81b585fafb59dd13312e20", (1,3,64,64)), "mixer0-r32": ("be434430d10d9b306438d1ac", (1,3,32,32)),
          "resnet0-r64": ("d987277724c2bfe4dde00fae", (1,3,64,64)), "vit0-r64": ("9061b49920f85848550d92fc", (1,3,64,64))}
dev = tvm.cpu()
vms = {}
for name, (h, shape) in models.items():
    vm = VirtualMachine(tvm.runtime.load_module(L + h + ".so"), dev)
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"), dev)
    for _ in range(20): vm["main"](x)
    vms[name] = (vm, x)
res = {n: [] for n in models}
for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 7):
    for n, (vm, x) in vms.items():
        t = vm.time_evaluator("main", dev, number=200, repeat=5, min_repeat_ms=0)(x)
        res[n].append(float(np.median(t.results)) * 1e3)
med = {n: float(np.median(v)) for n, v in res.items()}
print(json.dumps({n: round(v * 1e3, 2) for n, v in med.items()}), "mixer64/resnet64 %.3f mixer64/vit64 %.3f mixer64/mixer32 %.3f" % (
    med["mixer0-r64"] / med["resnet0-r64"], med["mixer0-r64"] / med["vit0-r64"], med["mixer0-r64"] / med["mixer0-r32"]))
