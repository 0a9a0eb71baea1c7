import sys, json, numpy as np, tvm
from tvm import relax, tirx
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.pipeline import build_pipeline, fusion_passes
from lutnas.lowering.rules import apply_rules_pass
from lutnas.spaces import get_space
spec = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu())); target = spec.tvm_target()
rl = json.load(open(sys.argv[2]))
times = {k["name"]: k["ms"] * k["calls"] for k in rl["kernels"] if k["runtime"] == "tvm"}
space = get_space(rl["space"]); arch = tuple(rl["arch"]); shape = (1, 3, 224, 224)
path = export_onnx(space.build(arch, 224), shape, "/tmp/vt/par.onnx")
mod = import_onnx(path, shape).mod
with target:
    mod = tvm.transform.Sequential(fusion_passes(target) + [apply_rules_pass(target, None)])(mod)
tot_loss = 0
for gv, f in mod.functions_items():
    if not isinstance(f, tirx.PrimFunc): continue
    import re
    ext = [int(m) for m in re.findall(r"T\.parallel\((?:T\.int64\()?(\d+)\)", f.script())]
    t = times.get(gv.name_hint, 0)
    if not ext: 
        if t > 0.005: print(f"{gv.name_hint[:60]:60s} NO PARALLEL  {t*1e3:.1f} us")
        continue
    n = max(ext); imb = (-(-n // 2)) / (n / 2)
    loss = t * (imb - 1) / 2   # at 2 threads the kernel takes ~t/2 * imb
    tot_loss += loss
    if imb > 1.02 and t > 0.005: print(f"{gv.name_hint[:60]:60s} extent {ext} imbalance x{imb:.3f} t1={t*1e3:.1f} us loss@2t {loss*1e3:.1f} us")
print(f"total 2-thread imbalance loss {tot_loss*1e3:.1f} us; kernels at 1t {sum(times.values())*1e3:.0f} us")
