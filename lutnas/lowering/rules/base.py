"""The rule protocol and the small loop-nest analysis every CPU rule shares.

In the style of TVM's dlight (`s_tir/dlight/base/schedule_rule.py`): a rule has one method,
`apply(func, target, tunable) -> Schedule | None`, returning None for "not mine"; rules are tried in
order and the first match wins, with a fallback last. Schedules only reorder, split, fuse, inline and
annotate loops, so every rule keeps the function's numerics (up to float summation order).

`analyse(func)` splits a fused PrimFunc (the shape Relax's FuseOps/FuseTIR leaves behind: producers,
one reduction, an injective epilogue chain) into those three parts, so each rule only has to decide
how to tile the one reduction and where to put the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lutnas.lowering.cpu_features import vector_unit

if TYPE_CHECKING:
    import tvm

# tirx.IterVar kinds (include/tvm/tirx/var.h): data-parallel and commutative reduction.
SPATIAL_ITER = 0
REDUCE_ITER = 2


class Rule:
    """One CPU schedule rule: `apply` returns a fixed (non-tunable) schedule or None."""

    name = "rule"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass
class FuncParts:
    """A fused PrimFunc's root blocks: injective producers, at most one reduction, injective consumers."""

    sch: Any                    # tvm.s_tir.Schedule working on the function
    producers: list[Any]        # SBlockRVs before the reduction (padding, copies)
    reduction: Any | None       # the one block with reduction iterators, or None
    consumers: list[Any]        # SBlockRVs after it (bias, activation, residual add)
    kinds: str                  # the reduction block's iterator kinds, e.g. "SSSSRRR"
    extents: list[int]          # the reduction block's loop extents (static shapes only)


def iter_kinds(sch: Any, block: Any) -> str | None:
    """'S'/'R' per block iterator, or None when the block has other iterator kinds."""
    out = []
    for iv in sch.get(block).iter_vars:
        kind = int(iv.iter_type)
        if kind not in (SPATIAL_ITER, REDUCE_ITER):
            return None
        out.append("S" if kind == SPATIAL_ITER else "R")
    return "".join(out)


def static_extents(sch: Any, loops: list[Any]) -> list[int] | None:
    out = []
    for loop in loops:
        ext = sch.get(loop).extent
        if not hasattr(ext, "value"):
            return None
        out.append(int(ext.value))
    return out


def root_blocks(func: Any) -> tuple[Any, list[Any]] | None:
    """A Schedule of `func` and its root blocks in order; None for anything but a PrimFunc with a
    root block (not a fused compute function: left to TVM)."""
    from tvm import s_tir, tirx

    if not isinstance(func, tirx.PrimFunc):
        return None
    sch = s_tir.Schedule(func)
    try:
        return sch, list(sch.get_child_blocks(sch.get_sblock("root")))
    except Exception:  # noqa: BLE001 -- no root block
        return None


def kinded_blocks(func: Any) -> tuple[Any, list[Any], list[str]] | None:
    """(schedule, root blocks, each block's iterator kinds) of `func`; None without root blocks or
    where a block's kinds cannot be read (`iter_kinds`)."""
    found = root_blocks(func)
    if found is None:
        return None
    sch, blocks = found
    kinds = [iter_kinds(sch, b) for b in blocks]
    if any(k is None for k in kinds):
        return None
    return sch, blocks, kinds


def analyse(func: Any) -> FuncParts | None:
    """Split `func` into producers / one reduction / consumers; None if it has another shape."""
    found = kinded_blocks(func)
    if found is None:
        return None
    sch, blocks, kinds = found
    for b in blocks:  # every block must be a plain perfect loop nest at the root
        if len(sch.get_loops(b)) != len(sch.get(b).iter_vars):
            return None
    reductions = [i for i, k in enumerate(kinds) if "R" in k]
    if len(reductions) > 1:
        return None
    if not reductions:
        return FuncParts(sch, list(blocks), None, [], "", [])
    r = reductions[0]
    extents = static_extents(sch, sch.get_loops(blocks[r]))
    if extents is None:
        return None
    return FuncParts(sch, list(blocks[:r]), blocks[r], list(blocks[r + 1 :]), kinds[r], extents)


# (function, its reduction_shape) of the last function asked about: `apply_rules` tries every rule on
# one function in turn, so one entry serves them all (rules run on the pass's thread only)
_LAST_SHAPE: list[tuple[Any, tuple[str, tuple[int, ...], int | None] | None]] = []


def reduction_shape(func: Any) -> tuple[str, tuple[int, ...], int | None] | None:
    """(iterator kinds, loop extents, output-channel axis) of `func`'s one reduction, or None (no
    reduction, or a shape `analyse` refuses). Why: a rule that is not the function's rejects it by
    these facts, without building and analysing a Schedule of its own (five convolution rules each
    did, ~40% of the rules pass on channels-last networks)."""
    if _LAST_SHAPE and _LAST_SHAPE[0][0].same_as(func):
        return _LAST_SHAPE[0][1]
    parts = analyse(func)
    shape = None
    if parts is not None and parts.reduction is not None:
        shape = (parts.kinds, tuple(parts.extents), output_channel_axis(parts.sch, parts.reduction))
    _LAST_SHAPE[:] = [(func, shape)]
    return shape


def uses_var(expr: Any, var: Any) -> bool:
    """Whether the index expression `expr` depends on the loop variable `var`."""
    from tvm.tirx.analysis import undefined_vars

    return any(v.same_as(var) for v in undefined_vars(expr))


def row_stride(sch: Any, conv: Any) -> int | None:
    """The stride along rows of an NHWC conv block (iterators n, y, x, f, ...): how far its input's row
    index steps per output row (`y * s + ry - pad`), read before its padding is inlined. In and out rows
    alone cannot tell it: 9 -> 5 rows is stride 2 with padding, 9 -> 7 stride 1 without. If the index is
    not linear in y (a padding already inlined clamps it), in / out rows rounded up; None when no 4-d
    read's row index depends on y."""
    from tvm import sym, tirx

    stmt = sch.get(conv)
    if len(stmt.iter_vars) < 2:
        return None
    y = stmt.iter_vars[1].var
    for region in stmt.reads:
        if len(region.region) == 4 and uses_var(region.region[1].min, y):
            linear = sym.detect_linear_equation(region.region[1].min, [y])
            if len(linear) == 2 and isinstance(linear[0], tirx.IntImm):
                return int(linear[0])
            return -(-int(region.source.shape[1]) // int(stmt.iter_vars[1].dom.extent))
    return None


def weight_read(sch: Any, block: Any) -> tuple[int, int] | None:
    """(read index, output-channel axis) of a convolution block's weights: the 4-d read indexed by
    exactly one spatial iterator (the output channel: axis 1 in NCHW, 3 in NHWC) together with
    reduction iterators. Rules read the layout from the loop nest itself, not from block names."""
    stmt = sch.get(block)
    spatial = [iv.var for iv in stmt.iter_vars if int(iv.iter_type) == SPATIAL_ITER]
    reduce_ = [iv.var for iv in stmt.iter_vars if int(iv.iter_type) == REDUCE_ITER]
    for index, region in enumerate(stmt.reads):
        mins = [r.min for r in region.region]
        used = [i for i, var in enumerate(spatial) if any(uses_var(m, var) for m in mins)]
        if len(mins) == 4 and len(used) == 1 and any(uses_var(m, r) for m in mins for r in reduce_):
            return index, used[0]
    return None


def output_channel_axis(sch: Any, block: Any) -> int | None:
    """Which spatial iterator of a convolution block is its output channel (see `weight_read`)."""
    found = weight_read(sch, block)
    return None if found is None else found[1]


def vector_lanes(target: tvm.target.Target, bits: int = 32) -> int:
    """SIMD lanes of `bits`-wide elements for an llvm target (`cpu_features.vector_unit`: 4 floats
    on SSE2 and NEON, 8 on AVX/AVX2, 16 on AVX-512)."""
    return vector_unit(target).lanes(bits)


def target_cores(target: tvm.target.Target) -> int | None:
    """The threads the code will run on, where the build knows them (the target's `num-cores`,
    `targets.get_target(..., num_cores=N)`), else None."""
    cores = target.attrs.get("num-cores") if target.attrs is not None else None
    return None if cores is None else int(cores)


# Where a tile's accumulators live. TVM 0.27 (`LowerTVMBuiltin`) keeps a buffer on the stack only when
# its scope is "global" and it holds fewer than 1024 bytes (`kMaxStackAlloca`); any other buffer
# allocated inside a parallel loop becomes a TVMBackendAllocWorkspace / FreeWorkspace pair per
# iteration, and LLVM turns the accumulators' zeroing into a memset of that heap block. Measured here
# (Xeon, AVX-512, 1 thread, kernel alone): a 1x1 conv 32->144 at 56x56 ran 181 us with 24
# accumulators in a "local" buffer (a workspace call per 8-pixel tile) and 150 us with 12 in a
# "global" one (a stack array LLVM keeps in registers), where onnxruntime's node takes 170 us.
ACCUMULATOR_SCOPE = "global"
STACK_ARRAY_BYTES = 1024


def stack_vectors(target: tvm.target.Target) -> int:
    """Most vectors a stack array may hold (`ACCUMULATOR_SCOPE`): 15 of AVX-512, 31 of AVX2, 63 of NEON."""
    return (STACK_ARRAY_BYTES - 1) // (vector_unit(target).bits // 8)


def accumulators_on_stack(sch: Any, block: Any) -> None:
    """Give `block`'s result (a tile's accumulators) `ACCUMULATOR_SCOPE`: a stack array when it is
    smaller than `STACK_ARRAY_BYTES`, which LLVM keeps in registers when every access is unrolled."""
    sch.set_scope(block, 0, ACCUMULATOR_SCOPE)


def gemm_accumulators(target: tvm.target.Target) -> int:
    """Vector registers a convolution's register tile may fill with accumulators: three quarters of
    the target's, the rest hold one step's operands (the tile's weight vectors and an input
    broadcast). 12 of AVX2's 16 registers (a 6 x 2-vector tile), 24 of NEON's or AVX-512's 32. More
    than `stack_vectors` cost a workspace allocation per tile (`nhwc.register_tile` weighs it)."""
    return vector_unit(target).registers * 3 // 4


def stack_gemm_accumulators(target: tvm.target.Target) -> int:
    """`gemm_accumulators` that also fit a stack array (`stack_vectors`): for rules whose tile does
    not weigh the workspace pool's cost (`nhwc.register_tile` does)."""
    return min(gemm_accumulators(target), stack_vectors(target))


def depthwise_accumulators(target: tvm.target.Target) -> int:
    """Accumulator vectors of a depthwise tile: half the target's registers, because each tap also
    keeps its row's input vectors live (neighbouring taps of an unrolled row share them), and no more
    than a stack array holds (`stack_vectors`): 8 of 16, 16 of NEON's 32, 15 of AVX-512's 32."""
    return min(vector_unit(target).registers // 2, stack_vectors(target))


def replace_loop(sch: Any, loop_rv: Any, extent: int | None = None, body: Any = None) -> None:
    """Put a copy of the loop `loop_rv` in its place with a new `extent` and/or `body` (TIR has no
    schedule primitive for either: a prefetch prefixed to a body, a padded conv's extent)."""
    from tvm import tirx

    loop = sch.get(loop_rv)
    sch.state.replace(sch.get_sref(loop_rv), tirx.For(
        loop.loop_var, loop.min, loop.extent if extent is None else tirx.const(extent, str(loop.extent.ty)), loop.kind,
        loop.body if body is None else body, loop.thread_binding, loop.annotations))


def int32_indices(func: Any) -> Any:
    """`func` (a scheduled PrimFunc) with 32-bit loop variables and indices.

    Why: TIR's lowering narrows 64-bit indices itself (`NarrowDataType(32)`), but that pass gives each
    loop it narrows a new variable and leaves a `pragma_loop_partition_hint` attribute naming the old
    one, so LoopPartition never saw a hint of these rules (revision 38 and before). Narrowed before the
    lowering (`rules.narrow_indices_pass`), the loops keep their variables and the hints take effect.
    A function with a parameter of 2**31 elements or more, or of a dynamic shape, is returned as it is:
    forced to 32 bits its indices would overflow, where `NarrowDataType` narrows only what provably fits."""
    import tvm

    if not _fits_int32(func):
        return func
    return tvm.tirx.transform.ForceNarrowIndexToInt32()(tvm.IRModule({"main": func}))["main"]


def _fits_int32(func: Any) -> bool:
    """Whether every parameter of `func` has a static shape of fewer than 2**31 elements."""
    from tvm import tirx

    for param in func.params:
        shape = getattr(param.ty, "shape", None)
        if shape is None:
            continue
        if not all(isinstance(d, tirx.IntImm) for d in shape) or math.prod(int(d) for d in shape) >= 2**31:
            return False
    return True


def round_up(n: int, step: int) -> int:
    """`n` rounded up to a multiple of `step`."""
    return -(-n // step) * step


def largest_divisor(n: int, limit: int, prefer: tuple[int, ...] = ()) -> int:
    """The largest divisor of `n` that is <= `limit` (>= 1), unless one of `prefer` (tried in
    order) divides `n` within the limit: register tiles of 8 or 6 beat a larger odd divisor."""
    for p in prefer:
        if p <= limit and n % p == 0:
            return p
    for d in range(min(n, limit), 0, -1):
        if n % d == 0:
            return d
    return 1


def pow2_divisor(n: int, limit: int) -> int:
    """The largest power of two dividing `n` that is <= `limit` (>= 1)."""
    d = 1
    while d * 2 <= limit and n % (d * 2) == 0:
        d *= 2
    return d


def inline_chain(sch: Any, consumers: list[Any]) -> Any | None:
    """Inline every consumer but the last into its successor; returns the last (the output) block."""
    if not consumers:
        return None
    for block in consumers[:-1]:
        sch.compute_inline(block)
    return consumers[-1]


def vectorize_init(sch: Any, init: Any) -> None:
    """Vectorize the innermost loop of a reduction's init block (`decompose_reduction`), unless it is a
    single iteration."""
    loops = sch.get_loops(init)
    if static_extents(sch, loops[-1:])[0] > 1:
        sch.vectorize(loops[-1])


def partial_outputs(sch: Any, red: Any, k: Any, parts: int, inner: int, lanes: int) -> Any:
    """Cut `red`'s reduction loop `k` in `parts` contiguous parts, each summed into a copy of the output
    of its own (`rfactor`), and schedule `red` as the sum of the copies: the copy loop outside the
    output loop, `inner` outputs per vector. Returns the block of the copies, whose loops end with
    (output, part, the rest of `k`); the caller orders them and runs the parts in parallel."""
    part, _ = sch.split(k, factors=[parts, None])
    copies = sch.rfactor(part, factor_axis=0)
    *unit, j, part = sch.get_loops(red)
    sch.reorder(*unit, part, j)
    sch.vectorize(sch.split(j, factors=[None, inner])[1])
    vectorize_inner(sch, sch.decompose_reduction(red, part), lanes)
    return copies


def vectorize_inner(sch: Any, block: Any, lanes: int, parallel_outer: bool = False) -> None:
    """Split the innermost loop of `block` by the largest power of two <= `lanes` dividing it and
    vectorize it; optionally parallelise the outermost loop (spatial blocks only). A power of two:
    LLVM legalises a 10- or 12-float vector into code 1.9-2.2x slower than 8-float ones (an add +
    ReLU over 56x56x24 and 28x28x40, alone; `docs/measurements/pool-tiles-2026-12-05.md`)."""
    loops = sch.get_loops(block)
    if not loops:
        return
    ext = static_extents(sch, loops[-1:])
    if ext and ext[0] > 1:
        factor = pow2_divisor(ext[0], lanes)
        if factor > 1:
            if factor < ext[0]:
                _, inner = sch.split(loops[-1], factors=[None, factor])
            else:
                inner = loops[-1]
            sch.vectorize(inner)
    if parallel_outer:
        loops = sch.get_loops(block)
        if len(loops) > 1:
            sch.parallel(loops[0])
