import sys
from unittest.mock import patch
import tvm
import lutnas.lowering.dw_pw_fusion as dwpw
import merge3
from lutnas.lowering.pipeline import fused_module
from lutnas.lowering.targets import get_target, system_cpu
spec = get_target("x86", mcpu=system_cpu(), num_cores=1)
with patch.object(dwpw, "fuse_depthwise_pointwise", merge3.patched_pass):
    mod = fused_module(sys.argv[1], (1, 3, 224, 224), spec.tvm_target() if hasattr(spec, "tvm_target") else spec)
for gv, f in mod.functions_items():
    if isinstance(f, tvm.tirx.PrimFunc) and gv.name_hint.count("conv2d") >= 3:
        print(gv.name_hint)
        if len(sys.argv) > 2: print(f.script())
