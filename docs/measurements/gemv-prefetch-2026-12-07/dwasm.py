import os, sys, re
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np, torch, tvm
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
c, hw, k, st = map(int, sys.argv[1].split(","))
class Net(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.conv = torch.nn.Conv2d(c, c, k, st, k // 2, groups=c)
    def forward(s, x):
        return torch.relu(s.conv(x + 1.0))
p = export_onnx(Net().eval(), (1, c, hw, hw), Path(f"/tmp/probe/work/asm-dw{c}-{hw}-{k}-{st}.onnx"))
spec = get_target("x86", num_cores=1, **host_cpu_options())
mod, _ = import_model(p, (1, c, hw, hw))
low = lower_relax(mod, spec, "lutnas-cpu")
if os.environ.get("TIR"):
    for gv, f in low.functions_items():
        if isinstance(f, tvm.tirx.PrimFunc) and "conv" in gv.name_hint: print(f)
ex = compile_lowered(low, spec)
m = ex.mod if hasattr(ex, "mod") else ex
def walk(mm):
    yield mm
    for i in getattr(mm, "imports", getattr(mm, "imported_modules", [])):
        yield from walk(i)
for mm in walk(m):
    try:
        src = mm.inspect_source("asm")
    except Exception as e:
        continue
    if "vfmadd" in src:
        Path(sys.argv[2]).write_text(src); print("asm", len(src))
