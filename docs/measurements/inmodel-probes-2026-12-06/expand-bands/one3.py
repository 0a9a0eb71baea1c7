import sys
from unittest.mock import patch
import tvm
import lutnas.lowering.dw_pw_fusion as dwpw
import merge3
from lutnas.lowering.pipeline import fused_module
from lutnas.lowering.targets import get_target, system_cpu
spec = get_target("x86", mcpu=system_cpu(), num_cores=int(sys.argv[3]) if len(sys.argv) > 3 else 1)
with patch.object(dwpw, "fuse_depthwise_pointwise", merge3.patched_pass):
    mod = fused_module(sys.argv[1], (1, 3, 224, 224), spec.tvm_target())
f = next(f for gv, f in mod.functions_items() if gv.name_hint == sys.argv[2])
tvm.ir.save_json  # noqa
import pickle
open("func.txt", "w").write(f.script())
