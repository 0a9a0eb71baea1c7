"""A network's head (1x1 CIN -> COUT at HWxHW, ReLU, mean, COUT x N classifier) as lutnas-cpu's one kernel
for T cores, the head rule's settings varied, the builds timed alternately, hot and after a 64 MB
write (`FLUSH`).  python headab.py CIN,COUT,HW,N T ROUNDS VARIANT...
VARIANT: CHAINS or CHAINS+pf: `rules.head.CLASSIFIER_CHAINS` (1: revision 29's classifier loop, one
output vector at a time) and, with +pf, `PREFETCH_CONV_STRIP` (the conv's next weight strip too)."""
import os, sys
T_ = int(sys.argv[2]); os.environ["TVM_NUM_THREADS"] = str(T_)
import numpy as np, torch, tvm
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alternate import time_alternately
from unittest.mock import patch
from pathlib import Path
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
import lutnas.lowering.rules.head as hr

CIN, COUT, HW, N = map(int, sys.argv[1].split(","))
spec = get_target("x86", num_cores=T_, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Conv2d(CIN, COUT, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                          torch.nn.Flatten(), torch.nn.Linear(COUT, N)).eval()
Path("/tmp/probe/headab").mkdir(parents=True, exist_ok=True)
path = export_onnx(net, (1, CIN, HW, HW), Path(f"/tmp/probe/headab/h{CIN}-{COUT}-{N}.onnx"))
xn = np.random.default_rng(0).standard_normal((1, CIN, HW, HW)).astype("float32")
x, want = tvm.runtime.tensor(xn), net(torch.from_numpy(xn)).detach().numpy()
names, vms = sys.argv[4:], {}
for v in names:
    chains, _, pf = v.partition("+")
    with patch.object(hr, "CLASSIFIER_CHAINS", int(chains)), patch.object(hr, "PREFETCH_CONV_STRIP", pf == "pf"):
        mod, _ = import_model(path, (1, CIN, HW, HW))
        vms[v] = relax.VirtualMachine(compile_lowered(lower_relax(mod, spec, "lutnas-cpu"), spec), tvm.cpu())
    print(f"{v}: max |torch - tvm| {np.abs(vms[v]['main'](x).numpy() - want).max():.2g}")
res = time_alternately(vms, x, int(sys.argv[3]))
print(f"head {CIN}->{COUT} at {HW}x{HW}, {N} classes, {T_} thread(s), {sys.argv[3]} rounds; ratio = median of per-round ratios to {names[0]}")
for cold in (False, True):
    base = np.array(res[(names[0], cold)])
    print(("flushed" if cold else "hot    ") + ": " + "  ".join(
        f"{v} {np.median(res[(v, cold)]):6.1f} us x{np.median(np.array(res[(v, cold)]) / base):.3f}" for v in names))
