"""1x1 convs CIN,COUT,HW built with the strip prefetch as shipped and spread over the strip's pixel tiles,
timed hot and after a 64 MB write, builds interleaved (1-thread build, num_cores=1). Needs
`spread-prefetch-probe.diff` applied: `python spread.py 320,1280,7 1152,192,7`."""
import sys, time
from unittest.mock import patch
import numpy as np, torch, tvm
from tvm import relax
import lutnas.lowering.rules.nhwc as nhwc
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from pathlib import Path
WORK = Path("/tmp/probe/work"); WORK.mkdir(exist_ok=True, parents=True)
TARGET = get_target("x86", mcpu=system_cpu(), num_cores=1)
FLUSH = np.ones(64 << 20 >> 2, dtype=np.float32)
POLICIES = {"today": dict(SPREAD_STRIPS_OVER_BYTES=1 << 62), "spread": dict(SPREAD_STRIPS_OVER_BYTES=0),
            "none": dict(PREFETCH_STRIPS=False)}
def build(path, cin, hw, opts):
    mod, _ = import_model(path, (1, cin, hw, hw))
    with patch.multiple(nhwc, **opts):
        lowered = lower_relax(mod, TARGET, "lutnas-cpu")
    return relax.VirtualMachine(compile_lowered(lowered, TARGET), tvm.cpu())
def cold_us(vm, x, calls=10):
    t = []
    for _ in range(calls):
        FLUSH[:] += 1.0
        s = time.perf_counter(); vm["main"](x); t.append(time.perf_counter() - s)
    return float(np.median(t)) * 1e6
tvm.runtime.config_threadpool(0, 1) if hasattr(tvm.runtime, "config_threadpool") else None
for cin, cout, hw in (tuple(map(int, a.split(","))) for a in sys.argv[1:]):
    path = export_onnx(torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval(),
                       (1, cin, hw, hw), WORK / f"pw{cin}-{cout}-{hw}.onnx")
    vms = [build(path, cin, hw, o) for o in POLICIES.values()]
    x = tvm.runtime.tensor(np.random.rand(1, cin, hw, hw).astype("float32"))
    outs = [vm["main"](x).numpy() for vm in vms]
    assert all(np.allclose(outs[0], o, rtol=1e-4, atol=1e-4) for o in outs)
    R = 15
    hot, cold = np.zeros((R, len(vms))), np.zeros((R, len(vms)))
    for r in range(R):
        for k, vm in enumerate(vms):
            hot[r, k] = vm.time_evaluator("main", tvm.cpu(), number=20, repeat=1)(x).mean * 1e6
            cold[r, k] = cold_us(vm, x)
    line = f"{cin}->{cout} @{hw}: today hot {np.median(hot[:, 0]):.1f} us cold {np.median(cold[:, 0]):.1f} us"
    for k, label in enumerate(list(POLICIES)[1:], start=1):
        line += f" | {label}: hot x{np.median(hot[:, k] / hot[:, 0]):.3f} cold x{np.median(cold[:, k] / cold[:, 0]):.3f}"
    print(line, flush=True)
