"""The network input's NCHW -> NHWC transpose folded into the first convolution, which reads it in place.

A channels-last network (`lowering.layout`) starts with a transpose of its NCHW input, a kernel of its
own: on the Xeon VM at 224 px it took 25 us alone and 45 us inside fbnet (a 600 KB image read cold,
written, then copied again by the stem conv's padding pass): 1.3% of the network
(`docs/measurements/fused-depthwise-probes-2026-12-05.md`). This pass (between `FuseOps` and
`FuseTIR`) moves the transpose into the fused function of the kxk convolution that alone reads it;
`FuseTIR` builds one PrimFunc of both, and the conv rule reads the NCHW input in place
(`rules.nhwc.reads_network_input`): the stem's input channels are scalar broadcasts in either
layout, so neither the transpose nor the padding pass is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tvm


# An image's channels (grey, RGB, RGBA): read in place they are scalar broadcasts in either layout. A
# dense kxk conv over 8 channels-last channels read in place instead of padded first ran x2.5 slower
# (`docs/measurements/fused-depthwise-probes-2026-12-05.md`), so wider inputs keep the transpose.
MAX_INPUT_CHANNELS = 4


def fuse_input_transpose() -> tvm.transform.Pass:
    """The module pass: a transpose of a `main` parameter read only by a fused kxk convolution, merged
    into that convolution's function."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasFuseInputTranspose")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return _fuse_in_main(mod)

    return _pass


def is_transpose(mod: Any, call: Any) -> bool:
    """Whether `call` is a `call_tir` of a PrimFunc that only transposes its one input."""
    from tvm import tirx

    from lutnas.lowering.dw_pw_fusion import is_call_tir
    from lutnas.lowering.rules.base import kinded_blocks

    if not is_call_tir(call):
        return False
    func = mod[call.args[0]]
    if not isinstance(func, tirx.PrimFunc) or len(func.params) != 2:
        return False
    found = kinded_blocks(func)
    if found is None:
        return False
    sch, blocks, kinds = found
    return len(blocks) == 1 and "R" not in kinds[0] and sch.get(blocks[0]).name_hint.startswith("T_transpose")


def reads_as_kxk_conv(mod: Any, func: Any) -> bool:
    """Whether a fused Relax function starts with a dense (not depthwise) kxk channels-last conv over
    at most `MAX_INPUT_CHANNELS` input channels."""
    from lutnas.lowering.dw_pw_fusion import first_conv_parts, is_primitive

    parts = first_conv_parts(mod, func) if is_primitive(func) else None
    if parts is None:
        return False
    *_, kh, kw, rc = parts.extents
    return (kh, kw) != (1, 1) and 1 < rc <= MAX_INPUT_CHANNELS


def _fuse_in_main(mod: Any) -> Any:
    from tvm import relax

    from lutnas.lowering.dw_pw_fusion import merged_function, producer_function, use_counts, with_main_blocks

    main = mod["main"]
    blocks = list(main.body.blocks)
    first = blocks[0] if blocks and isinstance(blocks[0], relax.DataflowBlock) else None
    if first is None:
        return mod
    uses, params = use_counts(main), set(main.params)
    producer = {b.var: b for b in first.bindings if is_transpose(mod, b.value) and b.value.args[1][0] in params}
    builder = relax.BlockBuilder(mod)
    new_bindings, dropped = [], set()
    for b in first.bindings:
        call = b.value
        source = producer.get(call.args[0]) if isinstance(call, relax.Call) and call.args else None
        if (source is None or uses.get(source.var, 0) != 1 or not isinstance(call.op, relax.GlobalVar)
                or not reads_as_kxk_conv(mod, mod[call.op])):
            new_bindings.append(b)
            continue
        merged = merged_function(producer_function(mod, source)[0], mod[call.op])
        gv = builder.add_func(merged, f"fused_{call.op.name_hint.removeprefix('fused_')}_from_nchw")
        fused_call = builder.normalize(relax.Call(gv, [source.value.args[1][0], *call.args[1:]]))
        new_bindings.append(relax.VarBinding(b.var, fused_call))
        dropped.add(source.var)
    if not dropped:
        return mod
    blocks[0] = relax.DataflowBlock([b for b in new_bindings if b.var not in dropped])
    return relax.transform.DeadCodeElimination()(with_main_blocks(mod, builder, blocks))
