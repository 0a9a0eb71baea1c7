"""The cost of the border tests: a standalone depthwise with 'same' padding (inlined, tests in the taps)
against the same output from a pre-padded input with no padding (no tests). Hot, alternating.
python dwvalid.py ROUNDS C,HW,K,S ..."""
import os, sys
THREADS = 1; os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/bench")
import numpy as np, torch
from pathlib import Path
import kernel_roofline as kr
Path('/tmp/probe/work').mkdir(parents=True, exist_ok=True)
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.profiler.runners import LocalRunner
spec = get_target("x86", num_cores=1, **host_cpu_options()); runner = LocalRunner(spec, "tvm", 1)
class Net(torch.nn.Module):
    def __init__(s, c, k, st, pad):
        super().__init__(); s.conv = torch.nn.Conv2d(c, c, k, st, pad, groups=c)
    def forward(s, x):
        return torch.relu(s.conv(x + 1.0))
for shp in sys.argv[2:]:
    c, hw, k, st = map(int, shp.split(","))
    jobs = []
    for tag, pad, inp in (("same", k // 2, hw), ("valid", 0, hw + 2 * (k // 2))):
        path = export_onnx(Net(c, k, st, pad).eval(), (1, c, inp, inp), Path(f"/tmp/probe/work/dwv{tag}{c}-{hw}-{k}-{st}.onnx"))
        work = Path(f"/tmp/probe/work/dwv-{tag}-{c}-{hw}-{k}-{st}"); work.mkdir(parents=True, exist_ok=True)
        ks = kr.tvm_kernels(path, (1, c, inp, inp), spec, "lutnas-cpu", 1, 30, work, "hot")
        jobs.append(max(ks, key=lambda k: k.flops).job)
    res = [[], []]
    for r in range(int(sys.argv[1])):
        for i, job in enumerate(jobs):
            res[i].append(float(np.median(runner.measure_kernel(job).samples_ms)) * 1e3)
    print(f"c{c} {hw}px k{k} s{st}: same {np.median(res[0]):.1f} us, valid {np.median(res[1]):.1f} us, valid/same x{np.median(np.array(res[1]) / np.array(res[0])):.3f}", flush=True)
