"""A 1x1 convolution reads only the real channels of a padded input, in place.

`channel_pad` pads a channels-last network's channel counts to whole vectors; a 1x1 convolution
reading such a tensor (an expansion reading the 24 channels of a stage padded to 32) would multiply
the pad channels by zero weight rows: 3.4-4.8% of every sampled network's convolution work at 224 px
(fbnet, proxyless, ofa-mbv3, 3 archs each), nearly all of it in the expansions of the 24- and
40-channel stages. There `channel_pad` slices the input to its real channels instead
(`SLICE_PAD_ROWS`). Two passes around TVM's `FuseOps` put that slice inside the convolution's kernel:
`keep_channel_slices` keeps it out of the kernel before it (where `FuseOps` would fuse it), and
`fuse_channel_slices` merges it into the convolution's fused function (an injective op never fuses
into a convolution after it), where the rules inline it like a 1x1's padding: the convolution reads
the first channels of the padded tensor in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.dw_pw_fusion import (
    first_conv_parts,
    is_call_tir,
    is_primitive,
    merge_pairs,
    use_counts,
    with_main_blocks,
)

if TYPE_CHECKING:
    import tvm


def keep_channel_slices() -> tvm.transform.Pass:
    """The module pass, between `AnnotateTIROpPattern` and `FuseOps`: a channel slice read by a
    convolution calls an opaque PrimFunc, so that `FuseOps` leaves it out of the kernel before it.
    Fused there, the slice would make that kernel store the real channels (24 of a vector's 32:
    partial vector stores, and the stage's residual adds on 24-wide rows), which cost more than the
    zero rows saved (fbnet#0, 224 px: x1.021)."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasKeepChannelSlices")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return _opaque_slices(mod)

    return _pass


def _opaque_slices(mod: Any) -> Any:
    """`mod` with every channel slice whose only reader is a convolution calling an opaque copy of its
    PrimFunc (a copy: the same PrimFunc may slice tensors for other readers, which may fuse)."""
    from tvm import relax

    main = mod["main"]
    readers = _conv_readers(main)
    builder = relax.BlockBuilder(mod)
    opaque: dict[str, Any] = {}
    blocks = []
    for block in main.body.blocks:
        bindings = []
        for b in block.bindings:
            if b.var in readers and is_channel_slice(b.value, b.var):
                gv = b.value.args[0]
                if gv.name_hint not in opaque:   # kOpaque
                    kept = mod[gv].with_attr("op_pattern", 8)
                    opaque[gv.name_hint] = builder.add_func(kept, f"{gv.name_hint}_kept")
                call = relax.Call(b.value.op, [opaque[gv.name_hint]] + list(b.value.args[1:]), b.value.attrs,
                                  b.value.ty_args)
                b = relax.VarBinding(b.var, builder.normalize(call))
            bindings.append(b)
        blocks.append(relax.DataflowBlock(bindings) if isinstance(block, relax.DataflowBlock)
                      else relax.BindingBlock(bindings))
    if not opaque:
        return mod
    return with_main_blocks(mod, builder, blocks)


def _conv_readers(func: Any) -> set[Any]:
    """Variables whose only reader is a call_tir of a convolution."""
    uses = use_counts(func)
    read_by_conv = set()
    for block in func.body.blocks:
        for b in block.bindings:
            if is_call_tir(b.value) and "conv2d" in b.value.args[0].name_hint:
                read_by_conv.update(a for a in b.value.args[1].fields)
    return {v for v in read_by_conv if uses.get(v, 0) == 1}


def fuse_channel_slices() -> tvm.transform.Pass:
    """The module pass: every channel slice whose only reader is a fused 1x1 convolution, merged into it."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasFuseChannelSlices")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return merge_pairs(mod, _slice_pair)

    return _pass


def is_channel_slice(call: Any, out: Any) -> bool:
    """Whether `call` (bound to `out`) is a call_tir of a legalized strided_slice that keeps the first
    channels of a 4-d tensor and nothing else."""
    if not is_call_tir(call) or not call.args[0].name_hint.startswith("strided_slice"):
        return False
    source = call.args[1].fields
    if len(source) != 1:
        return False
    try:
        before = [int(d) for d in source[0].ty.shape]
        after = [int(d) for d in out.ty.shape]
    except (AttributeError, TypeError):
        return False
    return len(before) == len(after) == 4 and before[:3] == after[:3] and after[3] < before[3]


def _slice_pair(mod: Any, binding: Any, producer: dict[Any, Any], uses: dict[Any, int],
                _kinds: dict[str, str]) -> tuple[Any, Any, Any] | None:
    """(slice binding, its PrimFunc, this 1x1's function) when `binding` calls a fused 1x1 convolution
    on a channel slice that nothing else reads."""
    from tvm import relax

    call = binding.value
    if not (isinstance(call, relax.Call) and isinstance(call.op, relax.GlobalVar) and call.args):
        return None
    source = producer.get(call.args[0])
    if source is None or uses.get(call.args[0], 0) != 1 or not is_channel_slice(source.value, source.var):
        return None
    func = mod[call.op]
    parts = first_conv_parts(mod, func) if is_primitive(func) else None
    if parts is None or parts.extents[4:6] != [1, 1]:
        return None
    return source, source.value.args[0], call.op
