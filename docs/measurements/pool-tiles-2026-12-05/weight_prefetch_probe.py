"""The next kernel's weights prefetched into L2 while the kernel before it computes.

A network's weights (26 MB for an ofa-mbv3 at 224 px) do not stay in this VM's caches from one
inference to the next, so inside a network every kernel meets its weights cold, while a kernel timed
alone finds them hot. On the Xeon VM (1 thread, 224 px) the kernels of an ofa-mbv3 ran 0.46 ms
(12%) slower inside the network than alone, mostly the kernels over 1x1 to 14x14 planes, whose
weights are large against their work: a 672->176 squeeze-excite FC 16 us in the network against
3.7 us alone (`docs/measurements/`, 2026-12-05). The hardware prefetcher cannot run ahead into the
next kernel's weights; this pass makes each kernel ask for them (up to `MAX_BYTES`), spread over
the iterations of its outermost loop, so the memory bus works during compute-bound kernels too.

Runs after the rules and `FoldConstant` (the packed weights are constants by then): every
`call_tir` whose next `call_tir` reads a constant of at least `MIN_BYTES` gets that constant as one
more input and a copy of its PrimFunc that prefetches it. At two threads each core prefetches the
part of the weights its own iterations cover, which for the channel-strip-outer 1x1s is about the
part the next kernel's iterations on that core read.
"""

from __future__ import annotations

import math

import numpy as np
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tvm

PREFETCH_NEXT_WEIGHTS = True
MIN_BYTES = 16 * 1024          # smaller weights arrive in a few cache misses: not worth a prefetch loop
MAX_BYTES = 512 * 1024         # at most this much of the next weights: a quarter of the Xeon's L2
LINE_BYTES = 64
LINES_PER_STEP = 4             # prefetches issued back to back at most (beyond, they queue and stall)


def prefetch_next_weights() -> tvm.transform.Pass:
    """The module pass (`PREFETCH_NEXT_WEIGHTS` off: the module as it is)."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasPrefetchNextWeights")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return _rewrite_main(mod) if PREFETCH_NEXT_WEIGHTS else mod

    return _pass


def largest_constant(call: Any) -> Any | None:
    """The largest constant input of a `call_tir` of at least `MIN_BYTES`, or None."""
    import tvm

    consts = [a for a in call.args[1].fields if isinstance(a, tvm.ir.expr.GenericConst)]
    if not consts:
        return None
    best = max(consts, key=lambda c: c.value.numpy().nbytes)
    return best if best.value.numpy().nbytes >= MIN_BYTES else None


def _rewrite_main(mod: Any) -> Any:
    from tvm import relax

    from lutnas.lowering.dw_pw_fusion import is_call_tir

    main = mod["main"]
    builder = relax.BlockBuilder(mod)
    variants: dict[tuple[str, tuple[int, ...]], Any] = {}
    blocks = []
    for block in main.body.blocks:
        bindings = list(block.bindings)
        calls = [i for i, b in enumerate(bindings) if is_call_tir(b.value)]
        for this, following in zip(calls, calls[1:]):
            weights = largest_constant(bindings[following].value)
            call = bindings[this].value
            if weights is None:
                continue
            gv = call.args[0]
            key = (gv.name_hint, tuple(weights.value.shape))
            if key not in variants:
                func = with_prefetch(mod[gv], len(call.args[1].fields), weights.value.shape, weights.value.dtype)
                variants[key] = None if func is None else builder.add_func(func, f"{gv.name_hint}_prefetching")
            if variants[key] is not None:
                args = relax.Tuple([*call.args[1].fields, weights])
                new_call = relax.Call(call.op, [variants[key], args, *call.args[2:]], call.attrs, call.ty_args)
                bindings[this] = relax.VarBinding(bindings[this].var, new_call)
        kind = relax.DataflowBlock if isinstance(block, relax.DataflowBlock) else relax.BindingBlock
        blocks.append(kind(bindings))
    if not any(v is not None for v in variants.values()):
        return mod
    new_main = relax.Function(main.params, relax.SeqExpr(blocks, main.body.body), main.ret_ty, main.is_pure,
                              main.attrs)
    builder.update_func(mod.get_global_var("main"), new_main)
    return relax.transform.DeadCodeElimination()(builder.get())


def with_prefetch(func: Any, inputs: int, shape: tuple[int, ...], dtype: str) -> Any | None:
    """A copy of the scheduled PrimFunc `func` that takes one more input (after its `inputs` inputs)
    of `shape` and prefetches its first `MAX_BYTES` into L2, spread evenly over the iterations of
    its outermost loop (the parallel one, where there is one). None when `func` has no loop."""
    from tvm import s_tir, tirx

    weights = tirx.decl_buffer(shape, dtype, "next_weights")   # (TVM 0.27: a parameter is its buffer)
    func = tirx.PrimFunc([*func.params[:inputs], weights, *func.params[inputs:]], func.body, func.ret_type,
                         func.attrs)
    sch = s_tir.Schedule(func)
    chain = outermost_loop(sch)
    if not chain:
        return None
    _prefetch_in(sch, chain, weights)
    out = sch.mod["main"]   # named anew where the module takes it in (two functions, one symbol: a link error)
    return out.without_attr("global_symbol") if out.attrs is not None and "global_symbol" in out.attrs else out


def outermost_loop(sch: Any) -> list[Any]:
    """The loops of the top-level nest over which the work spreads (the widest parallel one, else
    the widest), outermost first, as far as they nest perfectly; [] when there is none."""
    from tvm import tirx

    seen, chains = [], []
    for block in sch.get_child_blocks(sch.get_sblock("root")) if _has_root(sch) else []:
        loops = sch.get_loops(block)
        if loops and not any(sch.get(loops[0]).same_as(s) for s in seen):
            seen.append(sch.get(loops[0]))
            chains.append(loops)
    if not chains:
        return []
    chain = max(chains, key=lambda c: (sch.get(c[0]).kind == tirx.ForKind.PARALLEL, int(sch.get(c[0]).extent)))
    perfect = chain[:1]
    for outer, inner in zip(chain, chain[1:]):
        if not sch.get(outer).body.same_as(sch.get(inner)) or sch.get(inner).kind != tirx.ForKind.SERIAL:
            break
        perfect.append(inner)
    return perfect


def _has_root(sch: Any) -> bool:
    try:
        sch.get_sblock("root")
    except Exception:  # noqa: BLE001 -- a function without a root block has nothing to schedule
        return False
    return True


def _prefetch_in(sch: Any, chain: list[Any], weights: Any) -> None:
    """The iterations of the outermost loops of `chain` (as deep as it takes to have at most
    `LINES_PER_STEP` lines a step) each prefetch their share of `weights`' lines, in order."""
    from tvm import tirx

    elems = math.prod(int(d) for d in weights.shape)
    item = np.dtype(str(weights.dtype)).itemsize
    lines = math.ceil(min(elems * item, MAX_BYTES) / LINE_BYTES)
    loops, steps = [sch.get(chain[0])], int(sch.get(chain[0]).extent)
    for rv in chain[1:]:
        if math.ceil(lines / steps) <= LINES_PER_STEP:
            break
        loops.append(sch.get(rv))
        steps *= int(loops[-1].extent)
    per = math.ceil(lines / steps)
    itype = str(loops[0].loop_var.ty.dtype)
    step = tirx.const(0, itype)
    for loop in loops:
        step = step * tirx.const(int(loop.extent), itype) + tirx.Cast(itype, loop.loop_var - loop.min)
    line = tirx.Var("line", itype)
    flat = (step * per + line) * (LINE_BYTES // item)
    read, to_l2, data = (tirx.const(v, "int32") for v in (0, 2, 1))
    address = tirx.address_of(tirx.BufferLoad(weights, unravel(flat, [int(d) for d in weights.shape])))
    prefetch = tirx.Evaluate(tirx.call_llvm_intrin("void", "llvm.prefetch", address, read, to_l2, data))
    guarded = tirx.IfThenElse(flat < tirx.const(elems, itype), prefetch, None)
    lines_loop = tirx.For(line, tirx.const(0, itype), tirx.const(per, itype), tirx.ForKind.SERIAL, guarded)
    loop = loops[-1]
    body = tirx.SeqStmt([lines_loop, loop.body])
    sch.state.replace(sch.get_sref(chain[len(loops) - 1]), tirx.For(
        loop.loop_var, loop.min, loop.extent, loop.kind, body, loop.thread_binding, loop.annotations))


def unravel(flat: Any, shape: list[int]) -> list[Any]:
    """Row-major indices of element `flat` in a buffer of `shape`."""
    from tvm import tirx

    out, stride, dtype = [], math.prod(shape), str(flat.ty.dtype)
    for extent in shape:
        stride //= extent
        out.append(tirx.floormod(tirx.floordiv(flat, tirx.const(stride, dtype)), tirx.const(extent, dtype)))
    return out
