import sys, hashlib, numpy as np, tvm, tvm_ffi
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target
from lutnas.lowering.pipeline import fused_module
from lutnas.lowering.rules import apply_rules, default_cpu_rules
out = {}
for name, px in (("proxyless", 64), ("fbnet", 64), ("ofa-mbv3", 128)):
    from lutnas.spaces import get_space
    space = get_space(name); rng = np.random.default_rng(3)
    for i in range(2):
        arch = space.sample(rng)
        shape = (1, 3, px, px)
        p = export_onnx(space.build(arch, px).eval(), shape, f"/tmp/probe/work/hash-{name}{i}.onnx")
        for mcpu in ("skylake-avx512", "znver1"):
            for cores in (None, 1, 2):
                t = get_target("x86", mcpu=mcpu, num_cores=cores).tvm_target()
                for gv, f in fused_module(p, shape, t).functions_items():
                    if isinstance(f, tvm.tirx.PrimFunc):
                        sch, rule = apply_rules(f, t, default_cpu_rules())[:2]
                        out[(name, i, mcpu, cores, gv.name_hint)] = (rule, tvm_ffi.structural_hash(sch.mod["main"]), hashlib.sha256(sch.mod.script().encode()).hexdigest()[:16])
import json
json.dump({"|".join(map(str, k)): v for k, v in sorted(out.items(), key=str)}, open(sys.argv[1], "w"), indent=0)
print(len(out), sum(1 for v in out.values() if v[0] in ("head-classifier", "row-reduction")))
