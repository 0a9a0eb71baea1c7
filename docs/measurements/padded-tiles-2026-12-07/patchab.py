"""One 1x1 conv (+ReLU) alone: the default build against one with patched names (values evaluated),
alternating, each sample >= 20 ms after one warm-up call. python patchab.py CIN COUT HW ROUNDS "mod.NAME=expr;..." """
import os, sys, time, importlib
os.environ.setdefault("TVM_NUM_THREADS", "1")
from contextlib import ExitStack
from pathlib import Path
from unittest.mock import patch
import numpy as np, torch, tvm
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
cin, cout, hw, rounds = (int(a) for a in sys.argv[1:5])
spec = sys.argv[5]
cores = int(os.environ["TVM_NUM_THREADS"])
target = get_target("x86", num_cores=cores, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval()
shape = (1, cin, hw, hw)
path = export_onnx(net, shape, Path(f"/tmp/probe/work/p{cin}-{cout}-{hw}.onnx"))
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
def patched():
    st = ExitStack()
    for item in filter(None, spec.split(";")):
        t, v = item.split("=", 1); m, c = t.rsplit(".", 1)
        mod = importlib.import_module(m)
        st.enter_context(patch.object(mod, c, eval(v, {"orig": getattr(mod, c), **vars(mod)})))
    return st
vms = {}
for name, ctx in (("default", ExitStack), ("patched", patched)):
    with ctx():
        mod, _ = import_model(path, shape)
        low = lower_relax(mod, target, "lutnas-cpu")
        vms[name] = relax.VirtualMachine(compile_lowered(low, target), tvm.cpu())
        print(name, low.script().count("llvm.prefetch"), "prefetch calls", flush=True)
ref = net(torch.from_numpy(x.numpy())).detach().numpy()
for k, vm in vms.items():
    assert np.abs(vm["main"](x).numpy() - ref).max() < 1e-3 * max(1, np.abs(ref).max()), k
one = vms["default"].time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean
number = max(10, int(0.02 / one))
t = {k: [] for k in vms}
for r in range(rounds):
    for k in (list(vms) if r % 2 == 0 else list(vms)[::-1]):
        vms[k]["main"](x)
        t[k].append(vms[k].time_evaluator("main", tvm.cpu(), number=number, repeat=1)(x).mean)
a, b = np.array(t["default"]), np.array(t["patched"])
print(f"{cin}->{cout} @{hw} {cores}t default {np.median(a)*1e6:.1f} us patched {np.median(b)*1e6:.1f} us  patched/default x{np.median(b/a):.3f} (IQR {np.percentile(b/a,25):.3f}-{np.percentile(b/a,75):.3f})")
