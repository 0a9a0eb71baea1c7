"""1x1 convs CIN -> C for several C at HWxHW (lutnas-cpu, 1 thread), alternately timed in one process:
does a wider output (a whole number of 2-vector tiles) cost less than its FLOPs?  python padout.py CIN HW ROUNDS C..."""
import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np, torch, tvm
from pathlib import Path
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
CIN, HW, ROUNDS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
couts = [int(c) for c in sys.argv[4:]]
spec = get_target("x86", num_cores=1, **host_cpu_options())
class Net(torch.nn.Module):
    def __init__(self, c):
        super().__init__(); self.conv = torch.nn.Conv2d(CIN, c, 1)
    def forward(self, x):
        return self.conv(x + 1.0)
Path("/tmp/probe/work").mkdir(parents=True, exist_ok=True)
x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal((1, CIN, HW, HW)).astype("float32"))
vms = []
for c in couts:
    path = export_onnx(Net(c).eval(), (1, CIN, HW, HW), Path(f"/tmp/probe/work/p{CIN}-{c}-{HW}.onnx"))
    mod, _ = import_model(path, (1, CIN, HW, HW))
    vms.append(relax.VirtualMachine(compile_lowered(lower_relax(mod, spec, "lutnas-cpu"), spec), tvm.cpu()))
res = [[] for _ in vms]
for r in range(ROUNDS):
    for i, vm in enumerate(vms):
        res[i].append(vm.time_evaluator("main", tvm.cpu(), number=50, repeat=1)(x).mean * 1e6)
base = np.array(res[0])
for c, rr in zip(couts, res):
    rr = np.array(rr)
    print(f"{CIN}->{c:4d} @{HW}: {np.median(rr):8.1f} us  time x{np.median(rr / base):.3f}  flops x{c / couts[0]:.3f}")
