"""1x1 convs built with three strip-prefetch policies (today, every strip, + pixels outer), timed hot and
with the caches flushed (a 64 MB write) before each call, interleaved:

    .venv/bin/python cold_kernel_ab.py 1104,192,7 352,1984,7
"""
import sys, time, numpy as np, torch, tvm
from pathlib import Path
from tvm import relax
import lutnas.lowering.rules.nhwc as nhwc
from lutnas.lowering import export_onnx
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model
layers = [tuple(map(int, a.split(","))) for a in sys.argv[1:]]  # cin,cout,hw
spec = get_target("x86", mcpu=system_cpu()); target = spec.tvm_target()
def build(cin, cout, hw, over, outer):
    p = Path(f"/tmp/r17/kab/k{cin}_{cout}_{hw}.onnx")
    if not p.exists():
        m = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval()
        export_onnx(m, (1, cin, hw, hw), p)
    nhwc.PREFETCH_STRIPS_OVER_BYTES = over; nhwc.PREFETCH_PIXELS_OUTER = outer
    mod, _ = import_model(p, (1, cin, hw, hw))
    with target:
        low = cpu_pipeline(target)(mod)
    return relax.VirtualMachine(compile_lowered(low, spec), tvm.cpu())
junk = np.ones(64 << 20 >> 2, dtype=np.float32)
for cin, cout, hw in layers:
    vms = [build(cin, cout, hw, nhwc.L1_BUDGET_BYTES, False), build(cin, cout, hw, 0, False), build(cin, cout, hw, 0, True)]
    x = tvm.runtime.tensor(np.random.rand(1, cin, hw, hw).astype("float32"))
    outs = [vm["main"](x).numpy() for vm in vms]
    assert all(np.allclose(outs[0], o, rtol=1e-4, atol=1e-4) for o in outs)
    hot = [[], [], []]; cold = [[], [], []]
    for r in range(15):
        for k, vm in enumerate(vms):
            hot[k].append(vm.time_evaluator("main", tvm.cpu(), number=20, repeat=1)(x).mean * 1e6)
            ts = []
            for _ in range(10):
                junk += 1.0
                t = time.perf_counter(); vm["main"](x); ts.append(time.perf_counter() - t)
            cold[k].append(np.median(ts) * 1e6)
    line = f"{cin}->{cout} @{hw}: today hot {np.median(hot[0]):.1f} us cold {np.median(cold[0]):.1f} us"
    for k, label in ((1, "every strip"), (2, "+pixels outer")):
        h = np.median(np.array(hot[k]) / np.array(hot[0])); c = np.median(np.array(cold[k]) / np.array(cold[0]))
        line += f" | {label}: hot x{h:.3f} cold x{c:.3f}"
    print(line, flush=True)
