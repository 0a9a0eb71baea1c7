"""Prototype: accumulators above TVM's 1 KB stack limit as allocas (disable_lower_builtin)."""
import sys, re
from pathlib import Path
from unittest.mock import patch
import numpy as np
import tvm
from tvm import tirx

ANN = "disable_lower_builtin"

def rewrite(stmt, limit):
    if isinstance(stmt, tirx.SeqStmt):
        return tirx.SeqStmt([rewrite(s, limit) for s in stmt.seq])
    if isinstance(stmt, tirx.For):
        return tirx.For(stmt.loop_var, stmt.min, stmt.extent, stmt.kind, rewrite(stmt.body, limit),
                        stmt.thread_binding, stmt.annotations, stmt.step)
    if isinstance(stmt, tirx.AttrStmt):
        return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, rewrite(stmt.body, limit))
    if isinstance(stmt, tirx.IfThenElse):
        return tirx.IfThenElse(stmt.condition, rewrite(stmt.then_case, limit),
                               None if stmt.else_case is None else rewrite(stmt.else_case, limit))
    if isinstance(stmt, tirx.AllocBuffer):
        buf = stmt.buffer
        size = 1
        for d in buf.shape:
            if not isinstance(d, tirx.IntImm):
                return stmt
            size *= int(d)
        nbytes = size * tvm.DataType(buf.dtype).bits // 8 * max(1, tvm.DataType(buf.dtype).lanes)
        scope = buf.scope()
        pass  # print("  alloc", buf.name, buf.shape, buf.dtype, scope, nbytes, file=sys.stderr)
        if scope == "global" and 1024 <= nbytes <= limit:
            ann = dict(stmt.annotations); ann[ANN] = tvm.tirx.IntImm("int32", 1)
            return tirx.AllocBuffer(buf, ann)
    return stmt

def annotate(limit):
    @tvm.tirx.transform.prim_func_pass(opt_level=0)
    def _pass(func, _mod, _ctx):
        return func.with_body(rewrite(func.body, limit))
    return _pass

def pipeline_factory(limit):
    """TVM's s_tir pipeline with `annotate(limit)` before the host finalization (LowerTVMBuiltin)."""
    from tvm.s_tir.pipeline import default_s_tir_pipeline
    def factory():
        pipe, fin_host, fin_dev = default_s_tir_pipeline()
        return pipe, (lambda: tvm.ir.transform.Sequential([annotate(limit), fin_host()])), fin_dev
    return factory

def as_default_pipeline(limit):
    """A context in which every TIR build (`tvm.tirx.build`'s default pipeline) annotates allocations."""
    from unittest.mock import patch
    return patch.dict(tvm.tirx.compilation_pipeline.PIPELINE_MAP, {"s_tir": pipeline_factory(limit)})

def register(limit):
    tvm.tirx.register_tir_pipeline("lutnas-probe", pipeline_factory(limit))

if __name__ == "__main__":
    sys.path.insert(0, "/work/main")
    from lutnas.lowering.rules import base
    from lutnas.lowering import export_onnx
    from lutnas.spaces import get_space
    from lutnas.lowering.pipeline import cpu_pipeline
    from lutnas.lowering.targets import get_target, system_cpu
    from lutnas.lowering.tvm_build import import_model
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    register(limit)
    space, rng = get_space("fbnet"), np.random.default_rng(0)
    space.sample(rng); arch = space.sample(rng)
    shape = (1, 3, 224, 224)
    path = export_onnx(space.build(arch, 224).eval(), shape, Path("/tmp/probe/fbnet1.onnx"))
    spec = get_target("x86", mcpu=system_cpu(), num_cores=1)
    target = spec.tvm_target()
    with patch.object(base, "STACK_ARRAY_BYTES", limit):
        mod, _ = import_model(path, shape)
        with target:
            lowered = cpu_pipeline(target)(mod)
    from tvm.relax.vm_build import _filter_tir
    funcs = [(gv.name_hint, f) for gv, f in lowered.functions_items() if isinstance(f, tirx.PrimFunc)]
    for name, f in funcs:
        if "conv" not in name: continue
        print(name, file=sys.stderr)
        m = tvm.IRModule({name: f.with_attr("global_symbol", name)})
        lib = tvm.tirx.build(m, target=target, pipeline="lutnas-probe")
        asm = lib.inspect_source("asm")
        print(name, "workspace calls:", asm.count("TVMBackendAllocWorkspace"), "spills(rsp stores zmm):", len(re.findall(r"vmovups\s+%zmm\d+, -?\d*\(%rsp\)|vmovaps\s+%zmm\d+, -?\d*\(%rsp\)", asm)))
