"""A 1x1 conv (CIN -> COUT at HWxHW, after an elementwise add so it reads NHWC) built by lutnas-cpu
for 1 thread with forced register tiles (PX,FV), timed alternately.  python tiles.py CIN,COUT,HW ROUNDS PX,FV ..."""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np, torch, tvm
from unittest.mock import patch
from pathlib import Path
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.lowering.rules import nhwc
CIN, COUT, HW = map(int, sys.argv[1].split(","))
ROUNDS = int(sys.argv[2])
tiles = [None] + [tuple(map(int, t.split(","))) for t in sys.argv[3:]]
spec = get_target("x86", num_cores=1, **host_cpu_options())
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__(); self.conv = torch.nn.Conv2d(CIN, COUT, 1)
    def forward(self, x):
        return self.conv(x + 1.0)
net = Net().eval()
Path("/tmp/probe/work").mkdir(parents=True, exist_ok=True)
path = export_onnx(net, (1, CIN, HW, HW), Path(f"/tmp/probe/work/t{CIN}-{COUT}-{HW}.onnx"))
x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal((1, CIN, HW, HW)).astype("float32"))
orig = nhwc.register_tile
vms = []
for t in tiles:
    def forced(shape, lanes, max_acc, stack_acc=None, t=t):
        if t is not None and shape.channels == COUT and shape.depth == CIN:
            return t
        return orig(shape, lanes, max_acc, stack_acc)
    with patch.object(nhwc, "register_tile", forced):
        mod, _ = import_model(path, (1, CIN, HW, HW))
        vms.append(relax.VirtualMachine(compile_lowered(lower_relax(mod, spec, "lutnas-cpu"), spec), tvm.cpu()))
ref = vms[0]["main"](x).numpy()
for vm in vms[1:]:
    assert np.abs(vm["main"](x).numpy() - ref).max() < 1e-3
res = [[] for _ in vms]
for r in range(ROUNDS):
    for i, vm in enumerate(vms):
        res[i].append(vm.time_evaluator("main", tvm.cpu(), number=50, repeat=1)(x).mean * 1e6)
base = np.array(res[0])
flop = 2 * HW * HW * CIN * COUT
for t, rr in zip(tiles, res):
    rr = np.array(rr)
    print(f"{str(t or 'rules'):10s} {np.median(rr):8.1f} us  x{np.median(rr / base):.3f}  {flop / np.median(rr) / 1e3:.1f} GFLOP/s")
