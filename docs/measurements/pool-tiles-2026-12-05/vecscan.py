import re, collections, numpy as np, tvm
from tvm import tirx
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.pipeline import fusion_passes
from lutnas.lowering.rules import apply_rules_pass
from lutnas.spaces import get_space
target = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu())).tvm_target()
odd = collections.Counter()
for name in ("proxyless", "fbnet", "ofa-mbv3"):
    space = get_space(name)
    for seed in range(3):
        arch = space.sample(np.random.default_rng(seed)); shape = (1, 3, 224, 224)
        path = export_onnx(space.build(arch, 224), shape, f"/tmp/vt/scan-{name}{seed}.onnx")
        mod = import_onnx(path, shape).mod
        with target:
            mod = tvm.transform.Sequential(fusion_passes(target) + [apply_rules_pass(target, None)])(mod)
        for gv, f in mod.functions_items():
            if not isinstance(f, tirx.PrimFunc): continue
            for m in re.findall(r"T\.vectorized\((?:T\.int64\()?(\d+)\)", f.script()):
                if int(m) not in (2, 4, 8, 16):
                    odd[(name, gv.name_hint[:50], int(m))] += 1
for k, v in sorted(odd.items()): print(k, v)
print("done", len(odd))
