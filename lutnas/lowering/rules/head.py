"""A network's head 1x1 conv, its global mean and its classifier in one kernel (`lowering.head_classifier`).

The classifier's reduction over the head's channels is split into strips of the conv's register tile
(32 channels on AVX-512) and put outermost; under each strip the conv computes those channels for
every pixel (pixel tiles x the strip, accumulators in registers), the mean pools them, and the
classifier adds their share (the strip's rows of its weights, `CLASSIFIER_CHAINS` output vectors at a
time). Every 8 steps of the conv's reduction prefetch into L2 the next strip's classifier rows and
conv weights at the rate the strip uses them, so both stream from memory while the conv's FMAs run
(module doc of `lowering.head_classifier` for why and what it measured).

Built for N cores, the reduction is first cut in N contiguous parts (`rfactor`), one per parallel
iteration, each with the strips above and its own partial classifier output; a last vector loop adds
the N partial outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    Rule,
    accumulators_on_stack,
    gemm_accumulators,
    kinded_blocks,
    largest_divisor,
    partial_outputs,
    pow2_divisor,
    replace_loop,
    round_up,
    stack_vectors,
    static_extents,
    target_cores,
    vector_lanes,
    weight_read,
)
from lutnas.lowering.rules.nhwc import (
    GemmShape,
    flatten_pixels,
    pack_weights,
    packed_weights,
    pad_gemm,
    prefetch_each_step,
    register_tile,
    split_vectors,
)

if TYPE_CHECKING:
    import tvm

# Output vectors of the classifier accumulated side by side under each strip. One at a time, the
# strip's 32 FMAs into a vector form one dependency chain (4 cycles each); up to 8 independent chains
# (an FMA's latency x its 2 pipes) hide that latency. fbnet's and proxyless's 1000 classes are 125
# vectors of 8 floats, so 5 chains. Measured here with the conv's strip prefetch
# (`PREFETCH_CONV_STRIP`), the head alone against revision 29 (Xeon, `docs/measurements/
# head-chains-2026-12-06/headab.py`, 30 rounds): fbnet's x0.908 hot and x0.929 flushed at 1 thread,
# x0.949 / x0.867 at 2; proxyless's x0.939 / x0.828; 1 thread, 224 px networks x0.962-0.996.
CLASSIFIER_CHAINS = 8
# Whether the head's conv also prefetches its next strip of weights (`_prefetch_next_share`).
PREFETCH_CONV_STRIP = True
# Steps of the head conv's reduction between two prefetch points (`_prefetch_next_share`; the largest
# power of two dividing the reduction up to this). Each point costs the integer arithmetic of its
# line's address; a prefetch at every step (1: revision 43 and before) issued 59 instructions per 20
# FMAs in fbnet's head (5 x 2 tile, two steps unrolled), most of them prefetching a line already
# asked for. Measured alone, in-model, 1 thread (znver3, `docs/measurements/rolling-expansion-2026-12-07.md`):
# every 8 steps, fbnet's head x0.73-0.97 (the VM's phase), proxyless's x0.91; every 16 or 32 (several
# lines a point, in bursts) gave less back, no prefetch x1.28.
PREFETCH_EVERY_STEPS = 8


class HeadClassifier(Rule):
    """conv (SSSSRRR, 1x1) -> per-channel ops -> sum over pixels (SSSSRR) -> injective -> matmul (SSR)
    -> injective, in one function."""

    name = "head-classifier"

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        found = kinded_blocks(func)
        if found is None:
            return None
        sch, blocks, kinds = found
        reductions = [i for i, k in enumerate(kinds) if "R" in k]
        pooled = [kinds[i] for i in reductions]
        if len(pooled) != 3 or pooled[0] != "SSSSRRR" or pooled[1] not in ("SSSSRR", "SSRR") or pooled[2] != "SSR":
            return None   # conv, the mean over the plane (kept dims or not), the classifier
        conv, pool, matmul = (blocks[i] for i in reductions)
        _n, h, w, f, kh, kw, rc = static_extents(sch, sch.get_loops(conv))
        _i, classes, _k = static_extents(sch, sch.get_loops(matmul))
        lanes, parts = vector_lanes(target), target_cores(target) or 1
        if (kh, kw) != (1, 1) or (parts > 1 and f % (parts * lanes)):
            return None
        weights = weight_read(sch, conv)
        share = GemmShape(h * w, f // parts, rc, True)   # one core's channels
        px, fv = register_tile(share, lanes, gemm_accumulators(target), stack_vectors(target),
                               pad=weights is not None, pad_channels=False)   # strips divide the channels
        pixels = round_up(h * w, px)
        if pixels == h * w:
            pack_weights(sch, conv, fv)
        for block in blocks[:reductions[0]] + blocks[reductions[0] + 1:reductions[1]]:
            sch.compute_inline(block)      # the input copy; bias and activation, read by the mean
        if pixels != h * w:                # whole tiles of pixels: the mean reads the real ones
            flatten_pixels(sch, conv, None, w)
            sch.compute_inline(pad_gemm(sch, conv, None, w, (px, fv), weights[0], lanes))
        for block in blocks[reductions[1] + 1:reductions[2]]:
            sch.compute_inline(block)      # the mean's division, transpose, reshape, read by the matmul
        vector, strips = pow2_divisor(classes, lanes), f // parts // fv   # strips per core
        shares = _core_shares(sch, matmul, parts, vector, lanes) if parts > 1 else matmul
        strip, step_loop, tile = _strips(sch, shares, conv, pool, (px, fv), pixels, vector, lanes)
        for block in blocks[reductions[2] + 1:]:
            split_vectors(sch, sch.get_loops(block)[-1], vector)
        first = sch.get(sch.get_loops(shares)[0]).loop_var * strips if parts > 1 else None
        _prefetch_next_share(sch, shares, conv, (first, strip), tile, step_loop, pixels // px, strips, fv, classes)
        return sch


def _core_shares(sch: Any, matmul: Any, parts: int, vector: int, lanes: int) -> Any:
    """Cut the classifier's reduction in `parts` contiguous shares, one per parallel iteration, each
    into a partial output of its own, added one `vector` of classes at a time (`partial_outputs`);
    returns the block of the shares, its share loop outermost."""
    shares = partial_outputs(sch, matmul, sch.get_loops(matmul)[-1], parts, vector, lanes)
    *unit, j, part, k = sch.get_loops(shares)
    sch.reorder(part, *unit, j, k)
    sch.parallel(part)
    return shares


def _strips(sch: Any, matmul: Any, conv: Any, pool: Any, tile: tuple[int, int], pixels: int, vector: int,
            lanes: int) -> tuple[Any, Any, Any]:
    """The matmul's channel loop in strips of `fv`, outermost, with the pooled strip and the conv under
    it, its classes `vector` at a time in `CLASSIFIER_CHAINS` chains; returns (strip loop, the conv's
    reduction loop, its pixel tile loop). A conv padded to whole tiles of `pixels` (`pad_gemm`)
    computes them all, though the mean reads only the real ones."""
    px, fv = tile
    *_, j, k = sch.get_loops(matmul)
    ko, ki = sch.split(k, factors=[None, fv])
    chains = largest_divisor(int(sch.get(j).extent) // vector, CLASSIFIER_CHAINS)
    jo, jc, ji = sch.split(j, factors=[None, chains, vector])
    sch.reorder(ko, jo, ki, jc, ji)
    sch.unroll(ki)
    sch.unroll(jc)
    sch.vectorize(ji)
    sch.compute_at(pool, ko, preserve_unit_loops=True)
    sch.compute_at(conv, ko, preserve_unit_loops=True)
    if len(sch.get(conv).iter_vars) == 6:   # flattened and padded: the conv computes every tile
        *_, n, p, f, ry, rx, rc = sch.get_loops(conv)
        if int(sch.get(p).extent) != pixels:   # compute_at gave it the mean's pixels only
            replace_loop(sch, p, extent=pixels)
        p = sch.fuse(n, p)
    else:
        *_, n, y, x, f, ry, rx, rc = sch.get_loops(conv)
        p = sch.fuse(n, y, x)
    pt, pi = sch.split(p, factors=[None, px])
    fo, fi = sch.split(f, factors=[None, lanes])
    sch.reorder(pt, ry, rx, rc, pi, fo, fi)
    tile = sch.cache_write(conv, 0, "local")
    accumulators_on_stack(sch, conv)   # as "local", a heap block the FMA loop stores to
    sch.reverse_compute_at(tile, pt)
    sch.unroll(pi)
    sch.unroll(fo)
    sch.vectorize(fi)
    split_vectors(sch, sch.get_loops(tile)[-1], lanes)
    sch.decompose_reduction(conv, ry)
    *_, c, k1, k2 = sch.get_loops(pool)
    sch.reorder(k1, k2, c)
    split_vectors(sch, c, lanes)
    sch.decompose_reduction(pool, k1)
    sch.decompose_reduction(matmul, ko)
    return ko, rc, pt


def _prefetch_next_share(sch: Any, matmul: Any, conv: Any, strip: tuple[Any | None, Any], tile: Any,
                         rc_loop: Any, tiles: int, strips: int, fv: int, classes: int) -> None:
    """Every `PREFETCH_EVERY_STEPS` steps of the strip's pixel tiles x reduction, prefetch the next
    strip's classifier rows and packed conv weights at the rate the strip's steps use them: at
    point p of P, lines p * lines / P onward, as many as one point must cover; `strip` is (the
    core's first strip, None on one core; the strip loop) and `strips` a core's count. The conv's
    strip (45 KB of fbnet's 2.8 MB) was left to the hardware prefetcher until the head alone, side by
    side, measured x0.982 hot and x0.938 flushed with it (`docs/measurements/head-chains-2026-12-06/`)."""
    from tvm import tirx

    classifier = [r.source for r in sch.get(matmul).reads if len(r.region) == 2][-1]
    packed = packed_weights(sch, conv)
    reduction = int(sch.get(rc_loop).extent)
    first, loop_rv = strip
    following = tirx.min(sch.get(loop_rv).loop_var + 1, strips - 1)
    following = following if first is None else first + following
    zero = tirx.const(0, str(sch.get(rc_loop).extent.ty))
    every = pow2_divisor(reduction, PREFETCH_EVERY_STEPS)
    points = sch.split(rc_loop, factors=[None, every])[0] if every > 1 else rc_loop
    # a column past a row's end: the address is the row-major offset from the strip's first row
    loads = [tirx.BufferLoad(classifier, [following * fv, line * 16])
             for line in _spread_lines(sch, tile, points, tiles, fv * classes * 4 // 64)]
    if PREFETCH_CONV_STRIP:
        loads += [tirx.BufferLoad(packed, [following, zero, zero, zero, line * 16])
                  for line in _spread_lines(sch, tile, points, tiles, reduction * fv * 4 // 64)]
    prefetch_each_step(sch, points, loads)


def _spread_lines(sch: Any, tile: Any, points: Any, tiles: int, lines: int) -> list[Any]:
    """The lines of a block of `lines` that prefetch point p of P (`tiles` pixel tiles x the loop
    `points`) covers: p * lines / P and the next ones, ceil(lines / P) in all (a prefetch past the
    block's end is a hint, never a fault)."""
    first = _spread_line(sch, tile, points, tiles, lines)
    return [first + k for k in range(max(1, -(-lines // (tiles * int(sch.get(points).extent)))))]


def _spread_line(sch: Any, tile: Any, rc_loop: Any, tiles: int, lines: int) -> Any:
    """Line s * lines / steps of a block at step s of `tiles` pixel tiles x the reduction `rc_loop`,
    as a multiply and a shift (no division in the loop), in 64 bits where 32 would overflow (a
    classifier of more than 16384 classes)."""
    from tvm import tirx

    loop = sch.get(rc_loop)
    steps = tiles * int(loop.extent)
    scale = -(-(lines << 16) // steps)
    # the largest product, (steps - 1) * scale, is below (lines << 16) + steps
    dtype = "int64" if (lines << 16) + steps >= 1 << 31 else str(loop.extent.ty)
    step = tirx.Cast(dtype, sch.get(tile).loop_var * loop.extent + loop.loop_var)
    return tirx.shift_right(step * tirx.const(scale, dtype), tirx.const(16, dtype))
