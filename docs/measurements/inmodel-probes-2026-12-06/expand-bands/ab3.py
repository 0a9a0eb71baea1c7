"""A/B: expansion + depthwise + 1x1 in bands (prototype) against today's build, 9 archs, one process:
python ab3.py THREADS ROUNDS BUDGETS(bytes, comma) [SPACES] [PER_SPACE]"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[1]
from contextlib import ExitStack
from pathlib import Path
from unittest.mock import patch
import numpy as np, tvm
from tvm import relax
import lutnas.lowering.dw_pw_fusion as dwpw
import lutnas.lowering.rules as rules
import merge3, rule3
from lutnas.lowering import export_onnx
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model
from lutnas.spaces import get_space
threads, rounds = int(sys.argv[1]), int(sys.argv[2])
budgets = [int(b) for b in sys.argv[3].split(",")]
spaces = (sys.argv[4] if len(sys.argv) > 4 else "proxyless,fbnet,ofa-mbv3").split(",")
per_space = int(sys.argv[5]) if len(sys.argv) > 5 else 3
spec = get_target("x86", mcpu=system_cpu(), num_cores=threads); target = spec.tvm_target()
orig = rules.default_cpu_rules
shape = (1, 3, 224, 224)
work = Path("/tmp/probe/x3/nets"); work.mkdir(exist_ok=True)
def build(path, budget):
    mod, _ = import_model(path, shape)
    with ExitStack() as st:
        if budget:
            st.enter_context(patch.object(dwpw, "fuse_depthwise_pointwise", merge3.patched_pass))
            st.enter_context(patch.object(rules, "default_cpu_rules", lambda: [rule3.ExpandDepthwisePointwise()] + orig()))
            st.enter_context(patch.object(rule3, "BAND_BYTES", budget))
        with target:
            lowered = cpu_pipeline(target)(mod)
    return relax.VirtualMachine(compile_lowered(lowered, spec), tvm.cpu())
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
nets = []
for name in spaces:
    sp, rng = get_space(name), np.random.default_rng(0)
    for i in range(per_space):
        arch = sp.sample(rng)
        path = export_onnx(sp.build(arch, 224).eval(), shape, work / f"{name}{i}.onnx")
        vms = [build(path, b) for b in [0] + budgets]
        want = vms[0]["main"](x).numpy()
        for vm in vms[1:]:
            err = np.abs(vm["main"](x).numpy() - want).max() / np.abs(want).max()
            assert err < 1e-4, (name, i, err)
        nets.append((f"{name}#{i}", vms))
        print("built", name, i, flush=True)
times = {n: [[] for _ in v] for n, v in nets}
for _ in range(rounds):
    for n, vms in nets:
        for k, vm in enumerate(vms):
            vm["main"](x)
            times[n][k].append(vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean * 1e3)
ratios = {b: [] for b in budgets}
for n, per in times.items():
    off = np.array(per[0]); line = f"{n:12s} off {np.median(off):.3f} ms"
    for b, on in zip(budgets, per[1:]):
        r = float(np.median(np.array(on) / off)); ratios[b].append(r); line += f"  {b // 1024} KB: x{r:.3f}"
    print(line, flush=True)
for b, v in ratios.items():
    print(f"geomean bands of <= {b // 1024} KB: x{np.exp(np.mean(np.log(v))):.3f}")
