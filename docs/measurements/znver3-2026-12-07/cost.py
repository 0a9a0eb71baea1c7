"""Static store count after unrolling, per PrimFunc, to compare with perfunc.py's LLVM seconds."""
import os, sys
os.environ.setdefault("TVM_NUM_THREADS", "1")
import numpy as np
sys.path.insert(0, "/work/main/bench")
import tvm
from tvm import relax, tirx
from tvm.relax.vm_build import _filter_tir, _vmcodegen
from lutnas.lowering.pipeline import resolve_build, build_pipeline
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.onnx_io import load_onnx
from lutnas.spaces import get_space
from compile_time import _export

def stores(stmt):
    if isinstance(stmt, tirx.For):
        n = stores(stmt.body)
        if stmt.kind == tirx.ForKind.UNROLLED and isinstance(stmt.extent, tirx.IntImm):
            n *= int(stmt.extent)
        return n
    if isinstance(stmt, tirx.SeqStmt):
        return sum(stores(s) for s in stmt.seq)
    if isinstance(stmt, tirx.BufferStore):
        return 1
    if isinstance(stmt, tirx.IfThenElse):
        return stores(stmt.then_case) + (stores(stmt.else_case) if stmt.else_case is not None else 0)
    n = 0
    for attr in ("block", "body", "init"):
        sub = getattr(stmt, attr, None)
        if isinstance(sub, (tirx.Stmt,)) or (sub is not None and type(sub).__name__ in ("SBlock","Block")):
            n += stores(sub)
    return n

space_name, idx = sys.argv[1], int(sys.argv[2])
res = 224
choice = resolve_build("x86")
space = get_space(space_name)
rng = np.random.default_rng(0)
for _ in range(idx + 1):
    arch = space.sample(rng)
onnx_path = _export(space, arch, res)
target = choice.target.tvm_target()
mod = import_onnx(load_onnx(onnx_path), (1, 3, res, res)).mod
with target:
    mod = build_pipeline(choice.pipeline, target)(mod)
mod = _vmcodegen(relax.ExecBuilder(), mod, "bytecode")
rows = sorted(((stores(f.body), gv.name_hint) for gv, f in _filter_tir(mod).functions_items()), reverse=True)
for n, name in rows[:25]:
    print(f"{n:7d}  {name}")
