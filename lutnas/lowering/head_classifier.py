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
    call = binding.value
    source = producer.get(call.args[1].fields[0] if is_call_tir(call) else call.args[0])
    return source if source is not None and uses.get(source.var, 0) == 1 else None


def _chain(mod: Any, binding: Any, producer: dict[Any, Any], uses: dict[Any, int], cores: int) -> list[Any] | None:
    """[conv, mean, transpose/reshape..., matmul] bindings ending at `binding` (a fused matmul), each
    read only by the next, the conv's channels split evenly over `cores`; None for anything else."""
    from tvm import relax

    if not _callee_name(mod, binding.value).startswith("matmul") or not isinstance(binding.value.op, relax.GlobalVar):
        return None
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
        name = f"{chain[0].value.op.name_hint}_mean_{binding.value.op.name_hint.removeprefix('fused_')}"
        return merged_call(builder, binding, func, name, args), chain[:-1]

    return rewrite_main(mod, merge)
