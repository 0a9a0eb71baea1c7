import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[2]
from unittest.mock import patch
import numpy as np, tvm
from tvm import relax
import lutnas.lowering.dw_pw_fusion as dwpw
import lutnas.lowering.rules as rules
import merge3, rule3
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model
threads = int(sys.argv[2])
spec = get_target("x86", mcpu=system_cpu(), num_cores=threads); target = spec.tvm_target()
orig_rules = rules.default_cpu_rules
shape = (1, 3, 224, 224)
def build(on):
    mod, _ = import_model(sys.argv[1], shape)
    ctx = [patch.object(dwpw, "fuse_depthwise_pointwise", merge3.patched_pass),
           patch.object(rules, "default_cpu_rules", lambda: [rule3.ExpandDepthwisePointwise()] + orig_rules())] if on else []
    for c in ctx: c.__enter__()
    try:
        with target:
            lowered = cpu_pipeline(target)(mod)
    finally:
        for c in ctx: c.__exit__(None, None, None)
    return lowered, relax.VirtualMachine(compile_lowered(lowered, spec), tvm.cpu())
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
l0, v0 = build(False); l1, v1 = build(True)
a, b = v0["main"](x).numpy(), v1["main"](x).numpy()
print("max rel err", float(np.abs(a - b).max() / np.abs(a).max()))
print([gv.name_hint for gv, f in l1.functions_items() if isinstance(f, tvm.tirx.PrimFunc) and gv.name_hint.count("conv2d") >= 3])
r = []
for _ in range(int(sys.argv[3])):
    t0 = v0.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean
    t1 = v1.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean
    r.append(t1 / t0)
print("on/off per round", " ".join(f"{v:.3f}" for v in r), "median", f"{np.median(r):.3f}", f"off {t0*1e3:.3f} ms")
