import os, sys
os.environ.setdefault("TVM_NUM_THREADS", "1")
from pathlib import Path
import tvm
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.lowering.rules import banded
from lutnas.spaces.blocks import BlockSpec
block, size = sys.argv[1], int(sys.argv[2])
spec = BlockSpec.parse(block); shape = (1, spec.in_ch, size, size)
work = Path(f"/tmp/probe/roll/{block}-{size}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(spec.build().eval(), shape, work / "block.onnx")
target = get_target("x86", num_cores=int(os.environ["TVM_NUM_THREADS"]), **host_cpu_options())
orig = banded.ChannelsLastExpandDepthwisePointwise.apply
def apply(self, func, t, tunable):
    sch = orig(self, func, t, tunable)
    if sch is not None:
        m = tvm.s_tir.transform.PlanAndUpdateBufferAllocationLocation()(sch.mod)
        m = tvm.s_tir.transform.ConvertBlocksToOpaque()(m); m = tvm.s_tir.transform.CompactBufferAllocation()(m)
        txt = m.script()
        for i, l in enumerate(txt.splitlines()):
            if "alloc_buffer" in l or "T.parallel" in l or "for yy_1" in l: print(i, l.strip()[:150])
    return sch
banded.ChannelsLastExpandDepthwisePointwise.apply = apply
mod, _ = import_model(onnx, shape)
lower_relax(mod, target, "lutnas-cpu")
