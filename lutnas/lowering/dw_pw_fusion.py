"""A depthwise convolution fused into the 1x1 convolution that reads it (channels-last networks).

In an inverted-residual block the depthwise output (e.g. 96 channels at 112x112: 4.8 MB) is written
to memory and read back by the projection; inside a network both kernels lose most to that traffic
(docs/measurements/covering-fit-2026-12-04.md: fbnet @ 224 px). TVM's `FuseOps` never puts two
convolutions in one function, so this pass merges the two fused Relax functions it made (between
`FuseOps` and `FuseTIR`) when the depthwise output has no other reader; `FuseTIR` then builds one
PrimFunc of both, which `rules.nhwc.ChannelsLastDepthwisePointwise` schedules so that each tile of pixels is
computed by the depthwise and projected while it is in L1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tvm

MIN_PLANE_PIXELS = 28 * 28   # smaller planes fit the caches anyway: nothing to save

# The expansion 1x1 before a fused depthwise + 1x1 joins it where its output (the expanded plane) is
# at least this large: `rules.banded` then computes the three convolutions band of rows by band of
# rows, each band's expanded rows in L2 instead of a whole plane through L3. Below, the plane fits L2.
EXPAND_INTO_BANDS = True
MIN_EXPANDED_BYTES = 1 << 20


def is_call_tir(expr: Any) -> bool:
    """Whether `expr` is a `call_tir` (a Relax call of a PrimFunc)."""
    from tvm import ir, relax

    return isinstance(expr, relax.Call) and isinstance(expr.op, ir.Op) and expr.op.name == "relax.call_tir"


def is_primitive(func: Any) -> bool:
    """Whether `func` is a fused Relax function made by `FuseOps` (FuseTIR will make it one PrimFunc)."""
    from tvm import relax

    return isinstance(func, relax.Function) and func.attrs is not None and "Primitive" in func.attrs


def first_conv_parts(mod: Any, func: Any) -> Any:
    """`rules.conv.conv_parts` (channels-last) of the PrimFunc a fused Relax function calls first;
    None when that call is no channels-last convolution."""
    from lutnas.lowering.rules.conv import conv_parts
    from lutnas.lowering.rules.nhwc import NHWC_CHANNEL_AXIS

    bindings = func.body.blocks[0].bindings if func.body.blocks else []
    call = bindings[0].value if bindings else None
    return conv_parts(mod[call.args[0]], NHWC_CHANNEL_AXIS) if is_call_tir(call) else None


def conv_kind(mod: Any, func: Any) -> str:
    """"depthwise", "pointwise" (stride-1 1x1 over a plane of at least MIN_PLANE_PIXELS) or "" for
    a fused Relax function whose first call is a channels-last convolution, else ""."""
    from lutnas.lowering.rules.nhwc import conv_input_shape

    parts = first_conv_parts(mod, func)
    if parts is None:
        return ""
    _n, h, w, _f, kh, kw, rc = parts.extents
    if rc == 1 and (kh, kw) != (1, 1):
        return "depthwise"
    in_shape = conv_input_shape(parts.sch, parts.reduction)   # grouped 1x1s (rc < input channels) excluded
    if (kh, kw) == (1, 1) and rc == in_shape[3] > 1 and in_shape[1:3] == [h, w] and h * w >= MIN_PLANE_PIXELS:
        return "pointwise"
    return ""


def merged_function(producer: Any, consumer: Any) -> Any:
    """One fused function computing `consumer(producer(...), ...)` (a depthwise and its 1x1; an
    expansion and that pair): the producer's parameters, then the consumer's but its first, which
    becomes the producer's result."""
    from tvm import relax

    bound = consumer.bind_params({consumer.params[0]: producer.body.body})
    bindings = list(producer.body.blocks[0].bindings) + list(bound.body.blocks[0].bindings)
    params = list(producer.params) + list(consumer.params[1:])
    body = relax.SeqExpr([relax.DataflowBlock(bindings)], bound.body.body)
    return relax.Function(params, body, consumer.ret_ty, is_pure=consumer.is_pure, attrs=consumer.attrs)


def fuse_depthwise_pointwise() -> tvm.transform.Pass:
    """The module pass: every depthwise -> 1x1 pair of fused functions in `main`, merged; then each
    large expansion 1x1 into the merged function reading it (`EXPAND_INTO_BANDS`)."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasFuseDepthwisePointwise")
    def _pass(mod: Any, _ctx: Any) -> Any:
        mod = merge_pairs(mod, _pair)
        return merge_pairs(mod, _expansion_pair) if EXPAND_INTO_BANDS else mod

    return _pass


def merge_pairs(mod: Any, find: Any) -> Any:
    """`main` with every producer -> consumer pair that `find(mod, binding, producer, uses, kinds)`
    names -- (producer binding, producer function, consumer function) -- merged into one function
    (`merged_function`; a producer may be a fused function or one PrimFunc, `producer_function`)."""
    kinds: dict[str, str] = {}

    def merge(builder: Any, binding: Any, producer: dict[Any, Any], uses: dict[Any, int]) -> Any:
        pair = find(mod, binding, producer, uses, kinds)
        if pair is None:
            return None
        first_binding, first_gv, second_gv = pair
        name = f"{first_gv.name_hint}_{second_gv.name_hint.removeprefix('fused_')}"
        first, first_args = producer_function(mod, first_binding)
        return merged_call(builder, binding, merged_function(first, mod[second_gv]), name, first_args), [first_binding]

    return rewrite_main(mod, merge)


def merged_call(builder: Any, binding: Any, func: Any, name: str, args: list[Any]) -> Any:
    """`binding`'s variable bound to a call of `func` (added to `builder` as `name`) on `args` and the
    inputs of `binding`'s call but its first (the merged producer's result)."""
    from tvm import relax

    gv = builder.add_func(func, name)
    return relax.VarBinding(binding.var, builder.normalize(relax.Call(gv, args + call_inputs(binding.value)[1:])))


def call_inputs(call: Any) -> list[Any]:
    """The tensors a binding's call reads: a call_tir's input tuple, a fused function's arguments."""
    return list(call.args[1].fields) if is_call_tir(call) else list(call.args)


def rewrite_main(mod: Any, rewrite: Any) -> Any:
    """`main` with each dataflow binding that `rewrite(builder, binding, producers, uses)` replaces --
    (new binding, the producer bindings it absorbed, now dropped) -- replaced; the rest kept."""
    from tvm import relax

    main = mod["main"]
    uses = use_counts(main)
    builder = relax.BlockBuilder(mod)
    blocks, count = [], 0
    for block in main.body.blocks:
        if not isinstance(block, relax.DataflowBlock):
            blocks.append(block)
            continue
        producer = {b.var: b for b in block.bindings}
        dropped, new_bindings = set(), []
        for b in block.bindings:
            replaced = rewrite(builder, b, producer, uses)
            new_bindings.append(b if replaced is None else replaced[0])
            if replaced is not None:
                dropped.update(absorbed.var for absorbed in replaced[1])
                count += 1
        blocks.append(relax.DataflowBlock([b for b in new_bindings if b.var not in dropped]))
    if not count:
        return mod
    return relax.transform.DeadCodeElimination()(with_main_blocks(mod, builder, blocks))


def with_main_blocks(mod: Any, builder: Any, blocks: list[Any]) -> Any:
    """The module of `builder` (made on `mod`, holding the functions added since) with `main`'s body
    made of `blocks`, normalized."""
    from tvm import relax

    main = mod["main"]
    new_main = relax.Function(main.params, relax.SeqExpr(blocks, main.body.body), main.ret_ty, main.is_pure, main.attrs)
    builder.update_func(mod.get_global_var("main"), new_main)
    return relax.transform.Normalize()(builder.get())


def producer_function(mod: Any, binding: Any) -> tuple[Any, list[Any]]:
    """The Relax function a binding calls, with its arguments: a fused function as it is; a call_tir
    (one PrimFunc: a transpose, a channel slice, a matmul alone) as a one-binding function of its
    inputs, primitive as FuseOps marks its functions, so that FuseTIR makes one PrimFunc of a merge
    that ends in it."""
    from tvm import relax

    call = binding.value
    inputs = call_inputs(call)
    if not is_call_tir(call):
        return mod[call.op], inputs
    params = [relax.Var(f"input{i}", a.ty) for i, a in enumerate(inputs)]
    out = relax.Var("output", binding.var.ty)
    inner = relax.Call(call.op, [call.args[0], relax.Tuple(params)], call.attrs, call.ty_args)
    body = relax.SeqExpr([relax.DataflowBlock([relax.VarBinding(out, inner)])], out)
    return relax.Function(params, body, binding.var.ty).with_attr("Primitive", True), inputs


def _pair(mod: Any, binding: Any, producer: dict[Any, Any], uses: dict[Any, int],
          kinds: dict[str, str]) -> tuple[Any, Any, Any] | None:
    """(depthwise binding, its function, this 1x1's function) when `binding` calls a pointwise
    function on a depthwise function's result that nothing else reads."""
    found = sole_reader(binding, producer, uses)
    if found is None or _kind(mod, found[2], kinds) != "pointwise" or _kind(mod, found[1], kinds) != "depthwise":
        return None
    return found


def _expansion_pair(mod: Any, binding: Any, producer: dict[Any, Any], uses: dict[Any, int],
                    kinds: dict[str, str]) -> tuple[Any, Any, Any] | None:
    """(expansion binding, its function, the fused depthwise + 1x1 function) when `binding` calls a
    merged depthwise + 1x1 on a pointwise function's result of at least `MIN_EXPANDED_BYTES` that
    nothing else reads."""
    found = sole_reader(binding, producer, uses)
    if found is None or _kind(mod, found[2], kinds) != "depthwise" or convolutions(mod[found[2]]) != 2:
        return None
    if output_bytes(found[0].var) < MIN_EXPANDED_BYTES or _kind(mod, found[1], kinds) != "pointwise":
        return None
    return found


def sole_reader(binding: Any, producer: dict[Any, Any], uses: dict[Any, int]) -> tuple[Any, Any, Any] | None:
    """(producer binding, producer function, this binding's function) when `binding` calls a fused
    function on the result of another that nothing else reads; None otherwise."""
    from tvm import relax

    call = binding.value
    if not (isinstance(call, relax.Call) and isinstance(call.op, relax.GlobalVar) and call.args):
        return None
    source = producer.get(call.args[0])
    if source is None or uses.get(call.args[0], 0) != 1:
        return None
    first = source.value
    if not (isinstance(first, relax.Call) and isinstance(first.op, relax.GlobalVar)):
        return None
    return source, first.op, call.op


def convolutions(func: Any) -> int:
    """How many convolutions a fused Relax function calls."""
    bindings = func.body.blocks[0].bindings if func.body.blocks else []
    return sum(1 for b in bindings if is_call_tir(b.value) and "conv2d" in b.value.args[0].name_hint)


def output_bytes(var: Any) -> int:
    """Bytes of a float32 tensor variable of static shape (0 when the shape is not static)."""
    shape = getattr(getattr(var, "struct_info_", None) or var.ty, "shape", None)
    try:
        return 4 * math.prod(int(d) for d in shape.values)
    except (AttributeError, TypeError):
        return 0


def _kind(mod: Any, gv: Any, kinds: dict[str, str]) -> str:
    if gv.name_hint not in kinds:
        func = mod[gv]
        kinds[gv.name_hint] = conv_kind(mod, func) if is_primitive(func) else ""
    return kinds[gv.name_hint]


def use_counts(func: Any) -> dict[Any, int]:
    """How many times each variable is read in `func` (arguments of calls and tuples, the output)."""
    from tvm import relax

    counts: dict[Any, int] = {}

    def visit(expr: Any) -> None:
        if isinstance(expr, relax.Var):
            counts[expr] = counts.get(expr, 0) + 1

    relax.analysis.post_order_visit(func, visit)
    return counts
