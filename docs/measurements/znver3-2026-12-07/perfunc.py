"""LLVM time per PrimFunc of one network: tirx.build + write_to_file of each function alone."""
import os, sys, time, tempfile
os.environ.setdefault("TVM_NUM_THREADS", "1")
import numpy as np
sys.path.insert(0, "/work/main/bench")
import tvm
from tvm import relax
from tvm.relax.vm_build import _filter_tir, _vmcodegen, _auto_attach_system_lib_prefix
from lutnas.lowering.pipeline import resolve_build, build_pipeline
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.onnx_io import load_onnx
from lutnas.spaces import get_space
from compile_time import _export

space_name, idx = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
res = 224
choice = resolve_build("x86")
space = get_space(space_name)
rng = np.random.default_rng(0)
for _ in range(idx + 1):
    arch = space.sample(rng)
onnx_path = _export(space, arch, res)
target = choice.target.tvm_target()
mod = import_onnx(load_onnx(onnx_path), (1, 3, res, res)).mod
passes = build_pipeline(choice.pipeline, target)
with target:
    mod = passes(mod)
builder = relax.ExecBuilder()
mod = _vmcodegen(builder, mod, "bytecode")
tir_mod = _filter_tir(mod)
rows = []
work = tempfile.mkdtemp()
for gv, f in ([] if os.environ.get("DUMP") else tir_mod.functions_items()):
    part = tvm.IRModule({gv: f}, attrs=tir_mod.attrs)
    t0 = time.perf_counter()
    lib = tvm.tirx.build(_auto_attach_system_lib_prefix(part, target, None), target=target)
    t1 = time.perf_counter()
    lib.write_to_file(os.path.join(work, "x.o"))
    t2 = time.perf_counter()
    size = os.path.getsize(os.path.join(work, "x.o"))
    rows.append((t1 - t0 + t2 - t1, t1 - t0, t2 - t1, size, gv.name_hint))
rows.sort(reverse=True)
tot = sum(r[0] for r in rows)
print(f"{len(rows)} funcs, total {tot:.1f} s (build {sum(r[1] for r in rows):.1f}, obj {sum(r[2] for r in rows):.1f}), {sum(r[3] for r in rows)/1e3:.0f} KB")
for r in rows[:25]:
    print(f"{r[0]:6.2f} s  build {r[1]:5.2f}  obj {r[2]:5.2f}  {r[3]/1e3:7.1f} KB  {r[4]}")
if os.environ.get("DUMP"):
    name = os.environ["DUMP"]
    for gv, f in tir_mod.functions_items():
        if gv.name_hint == name:
            open("/tmp/probe/dump.py", "w").write(f.script())
if os.environ.get("WHOLE"):
    for k in eval(os.environ["WHOLE"]):
        parts = [tvm.IRModule(dict(list(tir_mod.functions_items())[j::k]), attrs=tir_mod.attrs) for j in range(k)]
        t0 = time.perf_counter()
        for part in parts:
            lib = tvm.tirx.build(_auto_attach_system_lib_prefix(part, target, None), target=target)
            lib.write_to_file(os.path.join(work, "x.o"))
        print(f"{k} parts serially: {time.perf_counter() - t0:.1f} s")
