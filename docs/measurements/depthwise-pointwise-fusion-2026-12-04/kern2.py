"""Block (VM main) time under tile variants of the fused rule vs unfused, interleaved rounds."""
import os, sys, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
from pathlib import Path
import numpy as np, torch, tvm
from tvm import relax
import lutnas.lowering.dw_pw_fusion as fz
from lutnas.lowering.rules import default_cpu_rules
from lutnas.lowering.rules.nhwc import ChannelsLastDepthwisePointwise
from lutnas.spaces.blocks import Block, BlockSpec
from lutnas.lowering import export_onnx
from lutnas.lowering.tvm_build import import_model, compile_lowered
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
spec_t = get_target("x86", mcpu=system_cpu()); t = spec_t.tvm_target(); dev = tvm.cpu()
def build(path, shape, fuse, px):
    fz.MIN_PLANE_PIXELS = 1 if fuse else 10**9
    rules = [ChannelsLastDepthwisePointwise(px)] + default_cpu_rules()[1:]
    mod, _ = import_model(path, shape)
    with t:
        lowered = cpu_pipeline(t, rules=rules)(mod)
    return relax.VirtualMachine(compile_lowered(lowered, spec_t), dev)
variants = [("unfused", False, None)] + [(f"px{p}", True, p) for p in (int(v) for v in sys.argv[2].split(","))]
for arg in sys.argv[1].split(";"):
    spec, hw = arg.split("@"); hw = int(hw)
    b = BlockSpec.parse(spec); bl = Block(b, (1, b.in_ch, hw, hw)); net = bl.build().eval()
    path = export_onnx(net, bl.input_shape, Path(f"/tmp/fz/{spec}-{hw}.onnx"))
    x = np.random.default_rng(1).standard_normal(bl.input_shape).astype("float32")
    want = net(torch.from_numpy(x)).detach().numpy(); xx = tvm.runtime.tensor(x, dev)
    vms = {}
    for name, fuse, px in variants:
        vm = build(path, bl.input_shape, fuse, px)
        err = np.abs(vm["main"](xx).numpy() - want).max() / (np.abs(want).max() + 1e-9)
        if err > 1e-4: print("NUMERICS", arg, name, err)
        vms[name] = vm
    times = {k: [] for k in vms}
    for r in range(7):
        for k, vm in vms.items():
            n = max(1, int(0.05 / max(vm.time_evaluator("main", dev, number=2, repeat=1)(xx).mean, 1e-7)))
            times[k].append(vm.time_evaluator("main", dev, number=n, repeat=1)(xx).mean * 1e6)
    base = np.array(times["unfused"])
    print(arg, "  ".join(f"{k} {np.median(v):.0f}us x{np.median(np.array(v)/base):.3f}" for k, v in times.items()), flush=True)
