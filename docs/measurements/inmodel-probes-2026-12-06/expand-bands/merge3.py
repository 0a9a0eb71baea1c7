"""Prototype: merge the expansion 1x1 into the fused depthwise + 1x1 function (Relax, before FuseTIR)."""
from typing import Any
import lutnas.lowering.dw_pw_fusion as dwpw
from tvm import relax

MIN_EXPANDED_BYTES = 1 << 20

def conv_count(func):
    n = 0
    for b in func.body.blocks[0].bindings:
        v = b.value
        if dwpw.is_call_tir(v) and "conv2d" in v.args[0].name_hint:
            n += 1
    return n

def out_bytes(binding):
    sinfo = getattr(binding.var, "struct_info_", None) or binding.var.ty
    import math
    return 4 * math.prod(int(d) for d in sinfo.shape.values)

def merge_expansions(mod):
    main = mod["main"]
    uses = dwpw.use_counts(main)
    builder = relax.BlockBuilder(mod)
    blocks, count = [], 0
    kinds = {}
    for block in main.body.blocks:
        if not isinstance(block, relax.DataflowBlock):
            blocks.append(block); continue
        producer = {b.var: b for b in block.bindings}
        dropped, new_bindings = set(), []
        for b in block.bindings:
            call = b.value
            ok = (isinstance(call, relax.Call) and isinstance(call.op, relax.GlobalVar) and call.args
                  and dwpw.is_primitive(mod[call.op]) and conv_count(mod[call.op]) == 2
                  and dwpw._kind(mod, call.op, kinds) == "depthwise")
            src = producer.get(call.args[0]) if ok else None
            if src is None or uses.get(call.args[0], 0) != 1 or not isinstance(src.value.op, relax.GlobalVar) \
                    or dwpw._kind(mod, src.value.op, kinds) != "pointwise" or out_bytes(src) < MIN_EXPANDED_BYTES:
                new_bindings.append(b); continue
            ex_gv, f_gv = src.value.op, call.op
            name = f"{ex_gv.name_hint}_{f_gv.name_hint.removeprefix('fused_')}"
            gv = builder.add_func(dwpw.merged_function(mod[ex_gv], mod[f_gv]), name)
            new = builder.normalize(relax.Call(gv, list(src.value.args) + list(call.args[1:])))
            new_bindings.append(relax.VarBinding(b.var, new)); dropped.add(src.var); count += 1
        blocks.append(relax.DataflowBlock([b for b in new_bindings if b.var not in dropped]))
    if not count:
        return mod
    new_main = relax.Function(main.params, relax.SeqExpr(blocks, main.body.body), main.ret_ty, main.is_pure, main.attrs)
    builder.update_func(mod.get_global_var("main"), new_main)
    return relax.transform.DeadCodeElimination()(relax.transform.Normalize()(builder.get()))

def patched_pass():
    import tvm
    @tvm.transform.module_pass(opt_level=0, name="LutnasFuseDepthwisePointwise")
    def _pass(mod, _ctx):
        return merge_expansions(dwpw._fuse_in_main(mod))
    return _pass
