"""fbnet/proxyless head (1x1 CIN->COUT at HW, ReLU, mean, classifier N) on this CPU, 1 thread: lutnas's
merged kernel ('merged'), the three layers apart ('apart'), variants by patch, and onnxruntime, alternating,
hot and after a 64 MB write.  python headamd.py CIN,COUT,HW,N ROUNDS VARIANT=patch;patch ..."""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = "1"
import importlib
from contextlib import ExitStack
from unittest.mock import patch
import numpy as np, torch, tvm
from pathlib import Path
from tvm import relax
import onnxruntime as ort
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
CIN, COUT, HW, N = map(int, sys.argv[1].split(","))
rounds = int(sys.argv[2])
spec = get_target("x86", num_cores=1, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Conv2d(CIN, COUT, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                          torch.nn.Flatten(), torch.nn.Linear(COUT, N)).eval()
path = export_onnx(net, (1, CIN, HW, HW), Path(f"/tmp/probe/work/h{CIN}-{COUT}-{N}.onnx"))
xn = np.random.default_rng(0).standard_normal((1, CIN, HW, HW)).astype("float32")
x, want = tvm.runtime.tensor(xn), net(torch.from_numpy(xn)).detach().numpy()
runs = {}
for v in sys.argv[3:]:
    name, _, spec_ = v.partition("=")
    with ExitStack() as st:
        for item in filter(None, spec_.split(";")):
            t, val = item.split("=", 1) if "=" in item else (item, "")
            m, c = t.rsplit(".", 1)
            st.enter_context(patch.object(importlib.import_module(m), c, eval(val)))
        mod, _ = import_model(path, (1, CIN, HW, HW))
        vm = relax.VirtualMachine(compile_lowered(lower_relax(mod, spec, "lutnas-cpu"), spec), tvm.cpu())
    print(f"{name}: max |torch - tvm| {np.abs(vm['main'](x).numpy() - want).max():.2g}")
    f = vm["main"]
    runs[name] = (lambda f=f: f(x))
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
iname = sess.get_inputs()[0].name
runs["ort"] = lambda: sess.run(None, {iname: xn})
flush = np.ones(64 << 20 >> 2, dtype=np.float32)
names = list(runs)
res = {(v, c): [] for v in names for c in (False, True)}
for r in range(rounds):
    for cold in (False, True):
        for v in (names if r % 2 == 0 else names[::-1]):
            ts = []
            for _ in range(15):
                if cold:
                    flush[::16] += 1.0
                s = time.perf_counter(); runs[v](); ts.append(time.perf_counter() - s)
            res[(v, cold)].append(np.median(ts) * 1e6)
print(f"head {CIN}->{COUT} at {HW}x{HW}, {N} classes, 1 thread, {rounds} rounds; ratio = median of per-round ratios to ort")
for cold in (False, True):
    base = np.array(res[("ort", cold)])
    print(("flushed" if cold else "hot    ") + ": " + "  ".join(
        f"{v} {np.median(res[(v, cold)]):6.1f} us x{np.median(np.array(res[(v, cold)]) / base):.3f}" for v in names))
