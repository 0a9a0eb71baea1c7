import sys
from unittest.mock import patch
import tvm
import lutnas.lowering.dw_pw_fusion as dwpw
import lutnas.lowering.rules as rules
import merge3, rule3
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import import_model
spec = get_target("x86", mcpu=system_cpu(), num_cores=int(sys.argv[2])); target = spec.tvm_target()
orig = rules.default_cpu_rules
mod, _ = import_model(sys.argv[1], (1, 3, 224, 224))
with patch.object(dwpw, "fuse_depthwise_pointwise", merge3.patched_pass), \
     patch.object(rules, "default_cpu_rules", lambda: [rule3.ExpandDepthwisePointwise()] + orig()):
    with target:
        low = cpu_pipeline(target)(mod)
for gv, f in low.functions_items():
    if isinstance(f, tvm.tirx.PrimFunc) and gv.name_hint.count("conv2d") >= 3 and "weight_prepack" not in gv.name_hint:
        print(gv.name_hint); print(f.script()[:6000]); break
