"""1x1 convs (CIN,COUT,HW ...) built with three strip-prefetch policies of `rules.nhwc` (revision 16's:
strips beyond the L1 budget; every strip; every strip and pixels-outer convs too), timed hot and
after a 64 MB write (weights and input back in L3), the builds interleaved:

    python strip_kernel_ab.py 160,960,7 112,672,14 672,112,14 160,640,7 96,576,14 576,96,14 32,144,56
"""
import sys
import time
from unittest.mock import patch

import numpy as np
import torch
import tvm
from tvm import relax

import lutnas.lowering.rules.nhwc as nhwc
from lutnas.lowering import export_onnx
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.tvm_build import compile_lowered, import_model
from probe_kernels import TARGET, WORK

POLICIES = {"today": (nhwc.L1_BUDGET_BYTES, False), "every strip": (0, False), "+pixels outer": (0, True)}
FLUSH = np.ones(64 << 20 >> 2, dtype=np.float32)


def build(path, cin: int, hw: int, over: int, outer: bool) -> relax.VirtualMachine:
    mod, _ = import_model(path, (1, cin, hw, hw))
    with patch.object(nhwc, "PREFETCH_STRIPS_OVER_BYTES", over), patch.object(nhwc, "PREFETCH_PIXELS_OUTER", outer):
        with TARGET.tvm_target():
            lowered = cpu_pipeline(TARGET.tvm_target())(mod)
    return relax.VirtualMachine(compile_lowered(lowered, TARGET), tvm.cpu())


def cold_us(vm: relax.VirtualMachine, x: tvm.runtime.Tensor, calls: int = 10) -> float:
    """Median of single calls, each after the 64 MB write."""
    times = []
    for _ in range(calls):
        FLUSH[:] += 1.0
        start = time.perf_counter()
        vm["main"](x)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def main() -> None:
    for cin, cout, hw in (tuple(map(int, a.split(","))) for a in sys.argv[1:]):
        WORK.mkdir(exist_ok=True)   # one export: every build gets the same weights
        path = export_onnx(torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval(),
                           (1, cin, hw, hw), WORK / f"pw{cin}-{cout}-{hw}.onnx")
        vms = [build(path, cin, hw, *policy) for policy in POLICIES.values()]
        x = tvm.runtime.tensor(np.random.rand(1, cin, hw, hw).astype("float32"))
        outs = [vm["main"](x).numpy() for vm in vms]
        assert all(np.allclose(outs[0], o, rtol=1e-4, atol=1e-4) for o in outs)
        hot, cold = np.zeros((15, len(vms))), np.zeros((15, len(vms)))
        for r in range(15):
            for k, vm in enumerate(vms):
                hot[r, k] = vm.time_evaluator("main", tvm.cpu(), number=20, repeat=1)(x).mean * 1e6
                cold[r, k] = cold_us(vm, x)
        line = f"{cin}->{cout} @{hw}: today hot {np.median(hot[:, 0]):.1f} us cold {np.median(cold[:, 0]):.1f} us"
        for k, label in enumerate(list(POLICIES)[1:], start=1):
            line += (f" | {label}: hot x{np.median(hot[:, k] / hot[:, 0]):.3f}"
                     f" cold x{np.median(cold[:, k] / cold[:, 0]):.3f}")
        print(line, flush=True)


main()
