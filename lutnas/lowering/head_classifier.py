"""A network's head 1x1, its global mean and its classifier become one function, in a build that knows
its threads.

Why: the head's 1x1 (fbnet's 352 -> 1984 at 7x7: 68 MFLOP) keeps the FMA units busy and leaves the
memory idle; the classifier after it (1984 x 1000: 7.9 MB of weights, each read once) keeps the memory
busy and leaves the FMA units idle. One after the other they cost the sum. In one kernel
(`rules.head.HeadClassifier`) the head walks its output channels in strips, pools each strip, runs
that strip's share of the classifier, and prefetches the next strip's share while its FMAs run.
Measured here (Xeon, 1 thread, the three layers alone against lutnas-cpu's kernels for them,
`docs/measurements/spread-prefetch-2026-12-06/headtir.py`): fbnet's x0.80 hot and x0.81 with caches
flushed, proxyless's (320 -> 1280, 1280 x 1000) x0.73 and x0.79.

Built for N cores (the target's `num-cores`), each core takes a contiguous 1/N of the head's channels:
its conv, its mean and its share of the classifier, summed into a partial output of its own that a
last loop adds. Builds that do not know their cores (`lower`, tables from before revision 25) keep
three kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.dw_pw_fusion import (
    call_inputs,
    first_conv_parts,
    is_call_tir,
    merged_call,
    merged_function,
    producer_function,
    rewrite_main,
)

if TYPE_CHECKING:
    import tvm

FUSE_HEAD_CLASSIFIER = True
# Whether a pooled feature-mix 1x1 becomes a matmul the head's kernel takes (`pooled_mix_as_matmul`).
POOLED_MIX_AS_MATMUL = True
MAX_LAYOUT_STEPS = 3   # transposes and reshapes between the mean and the classifier
# Split across cores, each core's share of the head's channels is a whole number of vectors of the
# widest vector unit (16 float32 lanes, AVX-512), so the rule's strips divide it on every target.
CORE_SHARE_CHANNELS = 16


def fuse_head_classifier(cores: int | None) -> tvm.transform.Pass:
    """The module pass (after FuseOps): conv -> mean -> reshape -> matmul chains of `main` merged."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasFuseHeadClassifier")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return _merge_chains(mod, cores) if FUSE_HEAD_CLASSIFIER and cores is not None else mod

    return _pass


def _callee_name(mod: Any, call: Any) -> str:
    """The name of the PrimFunc a binding's value calls first (a fused function's first call_tir)."""
    from tvm import relax

    if is_call_tir(call):
        return call.args[0].name_hint
    if isinstance(call, relax.Call) and isinstance(call.op, relax.GlobalVar):
        func = mod[call.op]
        if isinstance(func, relax.Function) and func.body.blocks and func.body.blocks[0].bindings:
            return _callee_name(mod, func.body.blocks[0].bindings[0].value)
    return ""


def _sole_source(binding: Any, producer: dict[Any, Any], uses: dict[Any, int]) -> Any | None:
    """The binding that computes `binding`'s data input (a call_tir's first tensor, a fused call's
    first argument), when nothing else reads it; else None."""
    source = producer.get(call_inputs(binding.value)[0])
    return source if source is not None and uses.get(source.var, 0) == 1 else None


def _chain(mod: Any, binding: Any, producer: dict[Any, Any], uses: dict[Any, int], cores: int) -> list[Any] | None:
    """[conv, mean, transpose/reshape..., matmul] bindings ending at `binding` (a fused matmul), each
    read only by the next, the conv's channels split evenly over `cores`; None for anything else."""
    from tvm import relax

    call = binding.value
    if not _callee_name(mod, call).startswith("matmul") or not (is_call_tir(call) or isinstance(call.op, relax.GlobalVar)):
        return None   # a fused matmul (its bias, activation), or a matmul alone (`pooled_mix_as_matmul`'s)
    chain = [binding]
    for _ in range(MAX_LAYOUT_STEPS + 1):   # back through the layout steps to the mean
        source = _sole_source(chain[0], producer, uses)
        if source is None:
            return None
        chain.insert(0, source)
        name = _callee_name(mod, source.value)
        if name.startswith("mean"):
            break
        if "transpose" not in name and "reshape" not in name:
            return None
    else:
        return None
    conv = _sole_source(chain[0], producer, uses)
    if conv is None or not isinstance(conv.value.op, relax.GlobalVar):
        return None
    parts = first_conv_parts(mod, mod[conv.value.op])
    if parts is None or parts.extents[4:6] != [1, 1]:
        return None
    return [conv, *chain] if cores == 1 or parts.extents[3] % (cores * CORE_SHARE_CHANNELS) == 0 else None


def _merge_chains(mod: Any, cores: int) -> Any:
    def merge(builder: Any, binding: Any, producer: dict[Any, Any], uses: dict[Any, int]) -> Any:
        chain = _chain(mod, binding, producer, uses, cores)
        if chain is None:
            return None
        func, args = producer_function(mod, chain[0])
        for stage in chain[1:]:
            func = merged_function(func, producer_function(mod, stage)[0])
        # named by its ops, so kernel lists file it as a conv (`lowering.kernels.kernel_kind`)
        name = f"{chain[0].value.op.name_hint}_mean_{_callee_name(mod, binding.value).removeprefix('fused_')}"
        return merged_call(builder, binding, func, name, args), chain[:-1]

    return rewrite_main(mod, merge)


def pooled_mix_as_matmul() -> tvm.transform.Pass:
    """A module pass, a graph rewrite on the NCHW graph before the layout change: a dense 1x1
    convolution of constant weights on a global mean (1x1 output) whose input nothing else reads
    becomes `reshape -> matmul -> reshape`, its weights as the matmul's [in, out] constant.

    Why: OFA's head pools its 960 channels and mixes them to 1280 with such a convolution (4.9 MB of
    weights, each read once) before the classifier. As a convolution it is a kernel of its own that
    streams those weights with the FMA units idle, after a head 1x1 that kept them busy with the
    memory idle; as a matmul it is the classifier of the conv -> mean -> matmul chain
    (`fuse_head_classifier`), whose kernel streams the weights under the head's FMAs. A squeeze-excite
    convolution also reads a mean, but of a feature map the gate multiplies too: not rewritten."""
    import tvm

    from lutnas.lowering.layout import rewrite_functions

    @tvm.transform.module_pass(opt_level=0, name="LutnasPooledMixAsMatmul")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return rewrite_functions(mod, _mix_rewriter(mod)) if FUSE_HEAD_CLASSIFIER and POOLED_MIX_AS_MATMUL else mod

    return _pass


def _mix_rewriter(mod: Any) -> Any:
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    from lutnas.lowering.layout import bound_values_and_uses

    conv_op, mean_op = tvm.ir.Op.get("relax.nn.conv2d"), tvm.ir.Op.get("relax.mean")
    values, uses = bound_values_and_uses(mod)

    def pooled_mix(call: Any) -> bool:
        mean = values.get(call.args[0])
        return (call.op.same_as(conv_op) and _pixel_conv(call) and isinstance(mean, relax.Call)
                and mean.op.same_as(mean_op) and uses[mean.args[0]] == 1)

    @mutator
    class _Rewriter(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            new = super().visit_call_(call)
            return _as_matmul(new, new.args[0]) if pooled_mix(call) else new

    return _Rewriter()


def _pixel_conv(call: Any) -> bool:
    """An NCHW / OIHW dense 1x1 convolution, stride 1, no padding, of constant weights, on one pixel."""
    import tvm

    from lutnas.lowering.layout import static_dims

    attrs, dims = call.attrs, static_dims(call.args[0])
    return (isinstance(call.args[1], tvm.ir.expr.Constant) and dims is not None and dims[0] == 1
            and dims[2:] == [1, 1]
            and (str(attrs.data_layout), str(attrs.kernel_layout), str(attrs.out_layout)) == ("NCHW", "OIHW", "NCHW")
            and int(attrs.groups) == 1 and [int(d) for d in call.args[1].value.shape[2:]] == [1, 1]
            and all(int(v) == 0 for v in attrs.padding) and all(int(v) == 1 for v in attrs.strides))


def _as_matmul(call: Any, data: Any) -> Any:
    """The convolution `call` (`_pixel_conv`) on `data` as reshape -> matmul -> reshape."""
    from tvm import relax

    weight = call.args[1].value.numpy()
    out_ch, in_ch = weight.shape[:2]
    flat = relax.op.reshape(data, (1, in_ch))
    dtype = str(call.attrs.out_dtype)
    product = relax.op.matmul(flat, relax.const(weight.reshape(out_ch, in_ch).T.copy()),
                              None if dtype in ("", "void", "None") else dtype)
    return relax.op.reshape(product, (1, out_ch, 1, 1))
