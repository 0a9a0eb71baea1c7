"""Per-kernel LLVM time of one network: each PrimFunc built alone (tvm.tirx.build) and written to an
object file, timed; listed with llvm_cost and the function's name.
python llvmcost.py SPACE INDEX [RES]"""
import os, sys, time, tempfile
os.environ.setdefault("TVM_NUM_THREADS", "1")
import tvm
from pathlib import Path
from tvm import relax, tirx
from tvm.relax.vm_build import _auto_attach_system_lib_prefix
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.lowering.codegen import llvm_cost
from lutnas.spaces import get_space, sample_archs

space_name, index = sys.argv[1], int(sys.argv[2]); res = 224
if len(sys.argv) > 3:
    import lutnas.lowering.rules.nhwc as nh; nh.DEPTHWISE_UNROLLED_ROWS_UP_TO = int(sys.argv[3])
arch = list(sample_archs(space_name, index + 1, 0))[-1]
space = get_space(space_name)
onnx = export_onnx(space.build(arch, res), (1, 3, res, res), Path(tempfile.mkdtemp()) / "net.onnx")
spec = get_target("x86", num_cores=1, **host_cpu_options())
import json
j = spec.full_json()
if os.environ.get("OPT"): j["opt-level"] = int(os.environ["OPT"])
target = tvm.target.Target(j)
mod, name = import_model(onnx, (1, 3, res, res))
t0 = time.time(); lowered = lower_relax(mod, spec, "lutnas-cpu"); print(f"relax {time.time()-t0:.1f}s")
rows = []
work = tempfile.mkdtemp()
for gv, f in lowered.functions_items():
    if not isinstance(f, tirx.PrimFunc):
        continue
    m = tvm.IRModule({gv: f})
    with target:
        t0 = time.perf_counter()
        lib = tvm.tirx.build(_auto_attach_system_lib_prefix(m, target, None), target=target)
        t1 = time.perf_counter()
        lib.write_to_file(os.path.join(work, gv.name_hint + ".o"))
        t2 = time.perf_counter()
    rows.append((t2 - t0, t1 - t0, t2 - t1, llvm_cost(f), gv.name_hint))
rows.sort(reverse=True)
tot = sum(r[0] for r in rows)
print(f"{len(rows)} kernels, {tot:.1f} s alone (build + object)")
for r in rows[:25]:
    print(f"{r[0]:6.2f} s ({r[1]:5.2f} + {r[2]:5.2f})  cost {r[3]:5d}  {r[4]}")
