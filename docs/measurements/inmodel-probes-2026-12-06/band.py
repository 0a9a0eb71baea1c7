"""Stem + one inverted residual at 112x112, whole or computed in horizontal bands (expansion on the
band's rows plus the window's halo, depthwise + 1x1 on the band, outputs concatenated):
python band.py CIN EXP K S COUT BANDS THREADS ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[7]
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F, tvm
from pathlib import Path
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model

cin, exp, k, s, cout, bands_list, threads, rounds = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
    int(sys.argv[4]), int(sys.argv[5]), [int(b) for b in sys.argv[6].split(",")], int(sys.argv[7]), int(sys.argv[8]))

class Net(nn.Module):
    def __init__(self, bands):
        super().__init__()
        self.bands = bands
        self.stem = nn.Conv2d(3, cin, 3, 2, 1)
        self.e = nn.Conv2d(cin, exp, 1); self.d = nn.Conv2d(exp, exp, k, s, k // 2, groups=exp); self.p = nn.Conv2d(exp, cout, 1)
    def forward(self, x):
        x = F.relu6(self.stem(x))
        H = 112; p = k // 2; Ho = (H + 2 * p - k) // s + 1
        if self.bands == 1:
            return self.p(F.relu6(self.d(F.relu6(self.e(x)))))
        outs = []
        edges = [round(Ho * b / self.bands) for b in range(self.bands + 1)]
        for o0, o1 in zip(edges[:-1], edges[1:]):
            r0 = o0 * s - p; r1 = (o1 - 1) * s - p + k
            if o0 == 0:
                a0, ph = 0, p
            elif r1 > H:
                a0, ph = r0 - ((-p) % s), p
            else:
                a0, ph = r0, 0
            a1 = min(H, r1)
            e = F.relu6(self.e(x[:, :, a0:a1]))
            dw = F.conv2d(e, self.d.weight, self.d.bias, stride=s, padding=(ph, p), groups=exp)
            j0 = (r0 - a0 + ph) // s
            dw = dw[:, :, j0:j0 + (o1 - o0)]
            outs.append(self.p(F.relu6(dw)))
        return torch.cat(outs, 2)

torch.manual_seed(0)
ref = Net(1).eval()
shape = (1, 3, 224, 224)
spec = get_target("x86", mcpu=system_cpu(), num_cores=threads); target = spec.tvm_target()
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
vms = []
for b in bands_list:
    net = Net(b).eval(); net.load_state_dict(ref.state_dict())
    path = export_onnx(net, shape, Path(f"b{b}.onnx"))
    mod, _ = import_model(path, shape)
    with target:
        lowered = cpu_pipeline(target)(mod)
    names = [gv.name_hint for gv, f in lowered.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    print(b, "bands:", len(names), "kernels", sorted(names)[:12], flush=True)
    vms.append(relax.VirtualMachine(compile_lowered(lowered, spec), tvm.cpu()))
want = vms[0]["main"](x).numpy()
for b, vm in zip(bands_list[1:], vms[1:]):
    got = vm["main"](x).numpy(); print(b, "max err", float(np.abs(got - want).max() / np.abs(want).max()))
times = [[] for _ in vms]
for _ in range(rounds):
    for i, vm in enumerate(vms):
        vm["main"](x)
        times[i].append(vm.time_evaluator("main", tvm.cpu(), number=20, repeat=1)(x).mean * 1e6)
base = np.array(times[0])
for b, t in zip(bands_list, times):
    print(f"bands {b}: {np.median(t):8.1f} us  x{np.median(np.array(t) / base):.3f}")
