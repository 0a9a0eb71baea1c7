import os, sys
sys.path.insert(0, "/work/main/tests")
import tvm
from tvm import tirx, s_tir
from test_speed import _block_funcs
from helpers import assert_same_outputs
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.rules import banded, nhwc, int32_indices, apply_rules, default_cpu_rules
import lutnas.lowering.dw_pw_fusion as fusion
spec, hw = sys.argv[1], int(sys.argv[2])
fusion.MIN_EXPANDED_BYTES = int(os.environ.get("MINEXP", 1 << 20))
tgt = get_target("x86", num_cores=int(os.environ.get("CORES", 1)), **host_cpu_options()).tvm_target()
funcs = [f for n, f in _block_funcs(spec, hw, layout="NHWC").items() if n.count("conv2d") >= 2]
T_ = s_tir.transform
pre = tvm.transform.Sequential([T_.CanonicalizeLoop(), T_.LowerCrossThreadReduction(), T_.LowerInitBlock(), T_.PlanAndUpdateBufferAllocationLocation(), T_.ConvertBlocksToOpaque(), T_.CompactBufferAllocation(), T_.LowerMatchBuffer(), T_.StmtSimplify(), T_.LowerOpaqueBlock(), tirx.transform.FlattenBuffer(), tirx.transform.NarrowDataType(32), T_.LoopPartition(), tirx.transform.StmtSimplify()])
for f in funcs:
    sch, name = apply_rules(f, tgt, default_cpu_rules())
    narrowed = int32_indices(sch.mod["main"])
    with tgt:
        low = pre(tvm.IRModule({"main": narrowed.with_attr("global_symbol", "main").with_attr("target", tgt)}))
    print(name, "if_then_else in lowered:", low.script().count("if_then_else"))
    assert_same_outputs(f, narrowed, tgt, name)
    print("same outputs")
