"""Head 1x1 + ReLU + mean + classifier built by lutnas-cpu for T cores, head fusion off/on, timed alternately
(hot, then after a 64 MB write).   python head2.py CIN,COUT,HW,N T ROUNDS [ofa]
With `ofa`: ofa-mbv3's tail instead, 1x1 + h-swish + mean + a 1x1 conv COUT -> N + h-swish (the dropped
probe `ofa-dense-conv-probe.diff` merges it). RT=1 runs a T-thread build on one thread."""
import os, sys, time
T_ = int(sys.argv[2]); os.environ["TVM_NUM_THREADS"] = os.environ.get("RT", str(T_))
import numpy as np, torch, tvm
from unittest.mock import patch
from pathlib import Path
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
import lutnas.lowering.head_classifier as head
CIN, COUT, HW, N = map(int, sys.argv[1].split(","))
spec = get_target("x86", num_cores=T_, **host_cpu_options())
OFA = sys.argv[4:] == ["ofa"]
if OFA:
    layers = [torch.nn.Conv2d(CIN, COUT, 1), torch.nn.Hardswish(), torch.nn.AdaptiveAvgPool2d(1),
              torch.nn.Conv2d(COUT, N, 1, bias=False), torch.nn.Hardswish(), torch.nn.Flatten()]
else:
    layers = [torch.nn.Conv2d(CIN, COUT, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
              torch.nn.Flatten(), torch.nn.Linear(COUT, N)]
net = torch.nn.Sequential(*layers).eval()
Path("/tmp/probe/work").mkdir(parents=True, exist_ok=True)
path = export_onnx(net, (1, CIN, HW, HW), Path(f"/tmp/probe/work/{'o' if OFA else 'h'}{CIN}-{COUT}.onnx"))
x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal((1, CIN, HW, HW)).astype("float32"))
vms = {}
for on in (False, True):
    with patch.object(head, "FUSE_HEAD_CLASSIFIER", on):
        mod, _ = import_model(path, (1, CIN, HW, HW))
        vms[on] = relax.VirtualMachine(compile_lowered(lower_relax(mod, spec, "lutnas-cpu"), spec), tvm.cpu())
a, b = vms[False]["main"](x).numpy(), vms[True]["main"](x).numpy()
print("maxdiff", np.abs(a - b).max())
FLUSH = np.ones(64 << 20 >> 2, dtype=np.float32)
res = {(o, c): [] for o in (False, True) for c in (False, True)}
for r in range(int(sys.argv[3])):
    for cold in (False, True):
        for on in (False, True):
            f = vms[on]["main"]
            ts = []
            for _ in range(15):
                if cold: FLUSH[::16] += 1.0
                s = time.perf_counter(); f(x); ts.append(time.perf_counter() - s)
            res[(on, cold)].append(np.median(ts) * 1e6)
for cold in (False, True):
    off, on = np.median(res[(False, cold)]), np.median(res[(True, cold)])
    print(f"{'flushed' if cold else 'hot':8s} apart {off:7.1f} us  one kernel {on:7.1f} us  x{on/off:.3f}")
