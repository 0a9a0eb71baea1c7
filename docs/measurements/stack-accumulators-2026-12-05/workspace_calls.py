"""TVMBackendAllocWorkspace calls per kernel of one sampled network (space, index; seed 0, 224 px)
as lutnas-cpu builds it, read after TVM's LowerTVMBuiltin:

    .venv/bin/python workspace_calls.py ofa-mbv3 0
"""
import sys, numpy as np, tvm
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import import_model
from lutnas.spaces import get_space
spec = get_target("x86", mcpu=system_cpu()); target = spec.tvm_target()
space = get_space(sys.argv[1]); rng = np.random.default_rng(0)
for i in range(int(sys.argv[2]) + 1):
    arch = space.sample(rng)
shape = (1, 3, 224, 224)
p = export_onnx(space.build(arch, 224).eval(), shape, Path(f"/tmp/{sys.argv[1]}{sys.argv[2]}.onnx"))
mod, _ = import_model(p, shape)
with target:
    low = cpu_pipeline(target)(mod)
funcs = {gv.name_hint: f for gv, f in low.functions_items() if isinstance(f, tvm.tirx.PrimFunc)}
seen = {}
@tvm.instrument.pass_instrument
class A:
    def run_after_pass(self, mod, info):
        if info.name.endswith("LowerTVMBuiltin"):
            seen.update({gv.name_hint: f.script().count("TVMBackendAllocWorkspace(") for gv, f in mod.functions_items()})
with tvm.transform.PassContext(instruments=[A()]):
    tvm.tirx.build(tvm.IRModule({n: f.with_attr("global_symbol", n) for n, f in funcs.items()}), target=target)
for n, c in sorted(seen.items()):
    if c: print(c, n)
print(len(funcs), "functions,", sum(1 for c in seen.values() if c), "with workspace calls")
