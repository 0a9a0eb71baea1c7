"""Convolution rules for channels-last (NHWC, HWIO weights) functions, the layout `lutnas-cpu`
converts a network to (`lowering.layout`).

With channels innermost every convolution vectorizes over output channels, as oneDNN's and
onnxruntime's NCHWc kernels do:

- `ChannelsLastConv` (1x1 and dense kxk): out[p, f] = sum_c in[p, c] * w[c, f] is a GEMM. A register
  tile of PX pixels x FV channels (a few vectors) accumulates over the input channels: per channel,
  one broadcast of each pixel's input and one vector load of the weight row feed PX x FV/lanes FMAs
  (the BLIS micro-kernel as schedule primitives). A stride-1 1x1 conv takes its pixels as one flat
  axis, so tiles never stop at a row end; the loop over the larger operand goes outside, so the
  smaller one is what gets re-read from cache.
- `ChannelsLastDepthwise`: out[y, x, c] = sum in[y*s+ky, x*s+kx, c] * w[ky, kx, c]: a tile of PX
  output pixels of one row x FV channels; each tap is one weight vector and PX contiguous input
  vectors, whatever the stride. Rows go across cores, and inside a row each tile of pixels runs
  through all channel blocks before the next, so the window's input rows are read whole and in
  order; where the build knows its cores and each input row serves several output rows, each core's
  band of rows is walked one channel vector at a time instead (`depthwise_bands`), so that vector's
  window rows stay in L1 from one output row to the next. The input is read in place (the padding
  inlined: border taps test their bounds), the whole window unrolled. Measured here (Xeon, AVX-512,
  1 thread, kernel alone) against the former schedule (channel blocks outermost, each padding its
  planes into a buffer first): 96 ch 112x112 k5 0.97 -> 0.67 ms (0.50 ms with the one-vector tiles
  of `depthwise_channel_vectors`), k3 s2 0.63 -> 0.22 ms, 144 ch 56x56 k3 0.25 -> 0.14 ms, 1152 ch
  7x7 k5 23 -> 17 us: the buffer's copy read the input in strided 128-byte pieces, one channel block
  at a time.
- `ChannelsLastDepthwisePointwise`: a depthwise and the 1x1 reading it in one function
  (`lowering.dw_pw_fusion`): per tile of pixels the depthwise's output goes to a stack buffer the
  1x1 projects at once, instead of a plane written to memory and read back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.base import (
    Rule,
    accumulators_on_stack,
    depthwise_accumulators,
    gemm_accumulators,
    inline_chain,
    kinded_blocks,
    largest_divisor,
    output_channel_axis,
    pow2_divisor,
    replace_loop,
    round_up,
    row_stride,
    stack_gemm_accumulators,
    stack_vectors,
    static_extents,
    target_cores,
    vector_lanes,
    weight_read,
)
from lutnas.lowering.rules.conv import conv_parts

if TYPE_CHECKING:
    import tvm

NHWC_CHANNEL_AXIS = 3


def channel_tile(channels: int, lanes: int, max_vectors: int) -> int:
    """Output channels per register tile: the largest power of two dividing `channels`, up to
    `max_vectors` vectors."""
    return pow2_divisor(channels, max_vectors * lanes)


# The data a register tile keeps re-reading should stay in L1: 32 KiB is the smallest L1 data cache of
# the cores lutnas targets (AMD Zen, Intel Core/Xeon 32-48 KiB, Arm Cortex-A/Neoverse 32-64 KiB), and
# three quarters of it leaves room for the operand that streams through.
L1_BUDGET_BYTES = 24 * 1024
# Per cycle, for the tile cost model: FMAs and vector loads issued, bytes L2 delivers (2 FMA and 2
# load pipes and 32 B/cycle from L2 on Zen 3, Intel and Neoverse cores alike).
FMA_PER_CYCLE, LOADS_PER_CYCLE, L2_BYTES_PER_CYCLE = 2, 2, 32


@dataclass(frozen=True)
class GemmShape:
    """A channels-last conv seen as a GEMM: `pixels` x `channels` outputs, `depth` products each
    (input channels x window), `weights_reused`: the loop over pixel tiles is inside the loop over
    channel tiles (fewer pixels than channels), so a tile's weights are re-read once per pixel tile."""

    pixels: int
    channels: int
    depth: int
    weights_reused: bool


def tile_cycles(shape: GemmShape, px: int, vectors: int, lanes: int) -> float:
    """Cycles per step over one product of a PX x (vectors x lanes) register tile: the slowest of its
    FMAs, its loads (PX broadcasts, one load per weight vector) and the bytes the re-read operand
    must bring from L2 when it does not stay in L1 (and is read again by a later tile). On a 7x7 1984-channel 1x1 conv, one pixel x 8
    vectors re-read 90 KB of weights from L2 per pixel (45 GFLOP/s); 7 pixels x 1 vector keeps 11 KB
    in L1 (77 GFLOP/s)."""
    fv = vectors * lanes
    resident = shape.depth * 4 * (fv if shape.weights_reused else px)
    reread = shape.pixels > px if shape.weights_reused else shape.channels > fv  # else read once anyway
    from_l2 = 0.0
    if reread and resident > L1_BUDGET_BYTES:   # the re-read operand streams from L2 at every step
        from_l2 = vectors * lanes * 4 if shape.weights_reused else px * 4
    if not shape.weights_reused and shape.depth * shape.channels * 4 > L1_BUDGET_BYTES:
        from_l2 = max(from_l2, vectors * lanes * 4.0)  # every pixel tile streams all the weights
    return max(px * vectors / FMA_PER_CYCLE, (px + vectors) / LOADS_PER_CYCLE, from_l2 / L2_BYTES_PER_CYCLE)


# Cycles a tile whose accumulators outgrow a stack array spends on TVM's workspace pool (allocate,
# zero, free: `rules.base.ACCUMULATOR_SCOPE`), fitted here (Xeon, AVX-512): a 32->144 1x1 conv at
# 56x56 ran 183 us in 24-vector tiles on the pool and 150 us in 12-vector tiles on the stack; a
# 192->1104 one at 7x7, whose depth amortizes it, 99 us in 21-vector tiles on the pool and 125 us
# in the 7-vector ones that fit the stack.
WORKSPACE_TILE_CYCLES = 100


# A flat 1x1 conv may compute a padded GEMM (`pad_gemm`) whose register tile need not divide its pixels
# or its channels, where that tile's rate (`register_tile`, discounted by the padded work) beats the best
# dividing tile by at least PAD_MIN_GAIN. 224 px networks end on 7x7 planes: 49 pixels, divided only
# by 1, 7 and 49, and fbnet's 184 channels are 23 vectors of 8. On AVX2 the dividing tile is then
# 7 pixels x 1 vector: 7 accumulators, fewer than the 8 FMAs in flight (2 pipes x 4 cycles) that hide
# an FMA's latency. Measured here (AMD EPYC, znver3, 1 thread, one conv + ReLU alone, 7 alternating
# rounds against the 7 x 1 tile, `docs/measurements/padded-tiles-2026-12-07/`): 184 -> 1104 at 7x7
# 5 pixels x 2 vectors (50 pixels) x0.84-0.85, 6 x 2 x0.91, 4 x 3 x0.88; 1104 -> 184 (192 channels)
# 5 x 2 x0.90-0.93, 6 x 2 x0.96-0.98. Padded tiles of more vectors than pixels ran slower than the
# 7 x 1 tile there, though `tile_cycles` rates them as high (3 x 4 x1.45-1.58, 2 x 6 x1.66-2.01: each
# pixel tile re-reads a wide strip of weights from L2), so a padded tile keeps at least as many pixels.
PAD_TILES = True
PAD_MIN_GAIN = 1.05


def register_tile(shape: GemmShape, lanes: int, max_acc: int, stack_acc: int | None = None,
                  pad: bool = False, pad_channels: bool = True) -> tuple[int, int]:
    """(PX pixels, FV channels) of a GEMM register tile with PX dividing the pixels, FV a whole number
    of vectors dividing the channels and at most `max_acc` accumulator vectors, chosen for the most
    FMAs per cycle by `tile_cycles` (ties: more accumulators, then more pixels); a tile of more than
    `stack_acc` accumulators also pays `WORKSPACE_TILE_CYCLES` once per tile. 11 vectors x 1 pixel
    was load-bound where 4 x 2 is not. FV may be three vectors (24 channels on AVX2): the channel loop
    is then split into unrolled vectors, because LLVM legalizes one <24 x float> lane by lane (a
    16->96 1x1 conv took 3.2 ms that way, 8x onnxruntime). With `pad`, a tile that divides neither
    may win (`PAD_TILES`): the caller then pads the GEMM to whole tiles (`pad_gemm`); without
    `pad_channels` only its pixels (FV still divides the channels)."""
    pixels, channels = shape.pixels, shape.channels
    stack_acc = max_acc if stack_acc is None else stack_acc
    if channels % lanes:
        return largest_divisor(pixels, min(max_acc, stack_acc)), pow2_divisor(channels, lanes)
    rate, px, fv = _best_tile(shape, lanes, max_acc, stack_acc, False, False)
    if pad and PAD_TILES:
        padded_rate, padded_px, padded_fv = _best_tile(shape, lanes, max_acc, stack_acc, True, pad_channels)
        if padded_rate > rate * PAD_MIN_GAIN:
            return padded_px, padded_fv
    return px, fv


def _best_tile(shape: GemmShape, lanes: int, max_acc: int, stack_acc: int, padded: bool,
               pad_channels: bool) -> tuple[float, int, int]:
    """(FMAs per cycle, PX, FV) of `register_tile`'s best tile: of those dividing the GEMM, or with
    `padded` of every size (whole vectors dividing the channels unless `pad_channels`), each rate
    scaled by the share of its padded GEMM that is real work."""
    vectors_in = shape.channels // lanes
    best = (0.0, 0, 0, 1, lanes)
    for vectors in range(1, max_acc + 1):
        if vectors_in % vectors and not (padded and pad_channels):
            continue
        for px in range(1, max_acc // vectors + 1):
            if (not padded and shape.pixels % px) or _too_wide(shape, px, vectors, lanes, padded):
                continue
            useful = shape.pixels * vectors_in / (round_up(shape.pixels, px) * round_up(vectors_in, vectors))
            pool = WORKSPACE_TILE_CYCLES / shape.depth if px * vectors > stack_acc else 0.0
            rate = useful * px * vectors / (tile_cycles(shape, px, vectors, lanes) + pool)
            best = max(best, (round(rate, 6), px * vectors, px, px, vectors * lanes))
    return best[0], best[3], best[4]


# Whether a register tile whose weight strip streams from L2 keeps at least as many pixels as vectors, as
# a padded tile always does (`_too_wide`); off: revision 42 and before.
NARROW_STREAMING_TILES = True


def _too_wide(shape: GemmShape, px: int, vectors: int, lanes: int, padded: bool) -> bool:
    """Whether a PX x `vectors` tile has more vectors than pixels where that is refused: always for a
    padded tile, and for a dividing one (on a GEMM of as many pixels) whose weight strip, re-read once
    per pixel tile, does not stay in L1. Such a tile streams `vectors` weight vectors from L2 for every
    `px` broadcasts: `tile_cycles` rates 2 pixels x 5 vectors as fast as 4 x 2, but on AVX2 (AMD EPYC,
    znver3, 1 thread, a 1x1 alone) 14x14 480 -> 80 ran x1.25 and 320 -> 80 x1.33 the time of 4 x 2
    (`fused-subtiles-2026-12-07.md`)."""
    if px >= vectors:
        return False
    if padded:
        return True
    return (NARROW_STREAMING_TILES and vectors <= shape.pixels and shape.weights_reused
            and shape.depth * 4 * vectors * lanes > L1_BUDGET_BYTES)


def split_vectors(sch: Any, loop: Any, lanes: int, max_unroll: int = 4) -> None:
    """Vectorize `loop` by whole vectors (or the largest power of two below one): a loop of a few
    vectors (a register tile) becomes unrolled vectors, a longer one a loop over vectors."""
    extent = static_extents(sch, [loop])[0]
    vec = pow2_divisor(extent, lanes)
    if vec <= 1:
        return
    if extent > vec:
        outer, loop = sch.split(loop, factors=[None, vec])
        if extent // vec <= max_unroll:
            sch.unroll(outer)
    sch.vectorize(loop)


# A flat 1x1 conv whose weights are at most this many bytes walks its pixel tiles outermost even over
# fewer pixels than channels (a 14x14 expansion 80 -> 480: 154 KB; 112 -> 672: 301 KB). Split across
# cores, its output is then cut by pixels, as the depthwise after it reads it (by rows), not by
# channels: with strips outermost each core's depthwise read half its rows' channels from the other
# core (in-model against hot, 2 threads, proxyless @ 224: 14x14 depthwise kernels x1.46-1.65). Each
# core reads all the weights, so not large ones. Networks, 9 archs, 224 px, against strips outermost
# (`bench/fusion_ab.py --rewrite pixel-major --thresholds 262144,524288,...`): 256 KB x0.979-0.988
# at 2 threads, x1.002 at 1; 512 KB x0.964 at 2, x1.002 at 1; 1 MB x0.975 at 2 but x1.012 at 1
# (ofa-mbv3 x1.033-1.042: one core re-reads 0.6-0.9 MB of weights per pixel tile from L2)
# (`docs/measurements/pool-tiles-2026-12-05.md`, `roofline-rounds-2026-12-05.md`).
PIXEL_MAJOR_MAX_WEIGHT_BYTES = 512 * 1024

# On one core a flat 1x1 with at least this many bytes of weights walks its strips outermost, even over
# more pixels than channels (14x14 672 -> 112: 301 KB). In a network its weights come cold: walking
# pixel tiles outermost, the first tile needs every strip at once and stalls at memory bandwidth
# (a 14x14 672 -> 112 conv alone, 1 thread: 206 us hot, 249 us with weights and output flushed,
# 241 us inside its network), while strips outermost take one strip at a time, the next one
# prefetched (`prefetch_next_strip`), and re-read the activations from L2 instead. Networks, 9 archs,
# 224 px, 1 thread, against revision 24 (`bench/fusion_ab.py --rewrite strips-outer --thresholds ...`,
# three runs): 16 KB x0.973 / x0.979, 32 KB x0.976, 64 KB x0.979 / x0.983, 128 KB x0.984, 256 KB
# x0.985; 4 KB and every 1x1 x1.005 (small weights stay cached; their pixels are better read once).
# At 2 threads 64 KB measured x1.023 (each core then writes a slice of channels that the next kernel
# reads by rows), so only where the build knows it runs on one core (`rules.base.target_cores`;
# `docs/measurements/roofline-floor-2026-12-06.md`).
SINGLE_CORE_STRIPS_MIN_WEIGHT_BYTES = 16 * 1024
# ... unless its input, which every strip reads again, has more than this many times its weights' bytes
# (None: any input). ofa-mbv3's 28x28 squeeze-excite projections read 376-752 KB of input with 19-38 KB
# of weights: strips outer, the input came from L3 once per strip (a 512 KB L2). Measured alone, 1
# thread, in-model (AMD EPYC, znver3, `docs/measurements/banded-3x3-2026-12-07.md`): 160 -> 40 x0.56,
# 240 -> 40 x0.77, 120 -> 40 (input in L2) and 144 -> 40 unchanged; ofa-mbv3's networks x0.928 /
# x0.962 / x0.984 and x1.011 / x0.974 / x0.990 in two runs, fbnet and proxyless x0.995-1.013.
STRIPS_OUTER_MAX_INPUT_PER_WEIGHT: int | None = 8


def single_core_strips_outer(cores: int | None, weight_bytes: int, input_bytes: int) -> bool:
    """Whether a flat 1x1 with `weight_bytes` of weights and `input_bytes` of input, built for `cores`
    threads, walks its weight strips outermost whatever its shape (`SINGLE_CORE_STRIPS_MIN_WEIGHT_BYTES`,
    `STRIPS_OUTER_MAX_INPUT_PER_WEIGHT`)."""
    return (cores == 1 and weight_bytes >= SINGLE_CORE_STRIPS_MIN_WEIGHT_BYTES
            and (STRIPS_OUTER_MAX_INPUT_PER_WEIGHT is None
                 or input_bytes <= STRIPS_OUTER_MAX_INPUT_PER_WEIGHT * weight_bytes))


class ChannelsLastConv(Rule):
    """A dense (not depthwise) NHWC convolution: 1x1 as a GEMM over flat pixels, kxk along rows."""

    name = "nhwc-conv"

    def __init__(self, max_acc_vectors: int | None = None) -> None:
        self.max_acc_vectors = max_acc_vectors  # None: the target's (`gemm_accumulators`)

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        parts = conv_parts(func, NHWC_CHANNEL_AXIS, broadcast_last=True)
        if parts is None:
            return None
        _n, h, w, f, kh, kw, rc = parts.extents
        if rc == 1 and (kh, kw) != (1, 1):
            return None  # depthwise
        sch, conv = parts.sch, parts.reduction
        lanes = vector_lanes(target)
        flat = (kh, kw) == (1, 1) and _input_pixels(sch, conv) == h * w
        groups = max(1, _input_channels(sch, conv) // rc)
        # a tile stays inside one group: its input channel f // (f / groups) is then one index
        # for the whole vector, not a gather (a g2 1x1 conv ran at ~1 GFLOP/s with 8 of 92)
        max_acc = self.max_acc_vectors or gemm_accumulators(target)
        pixels = h * w if flat else w
        strips_outer = flat and single_core_strips_outer(target_cores(target), rc * f * 4, h * w * rc * 4)
        gemm = GemmShape(pixels, f // groups, rc * kh * kw, weights_reused=pixels <= f or strips_outer)
        stack = stack_vectors(target)
        gated = bool(parts.consumers) and static_extents(sch, sch.get_loops(parts.consumers[-1])) != parts.extents[:4]
        weights = weight_read(sch, conv)
        paddable = flat and groups == 1 and not gated and weights is not None
        px, fv = register_tile(gemm, lanes, max_acc, stack, pad=paddable)
        padded = pixels % px != 0 or f % fv != 0
        if not padded:
            pack_weights(sch, conv, fv)  # first: later steps fold the unit window loops into spatial ones
        out = inline_chain(sch, parts.consumers)
        if gated:
            _broadcast_epilogue(sch, out, lanes)   # squeeze-excite's gate over the feature map
            out = None
        elif out is None:   # the conv writes the function's output: a copy does, so the conv's may change layout
            out = sch.cache_write(conv, 0, "global")
        _read_input(sch, parts.producers, (kh, kw), lanes)
        if flat:
            flatten_pixels(sch, conv, out, w)
            if padded:
                out = pad_gemm(sch, conv, out, w, (px, fv), weights[0], lanes)
                pixels, f = round_up(h * w, px), round_up(f, fv)
            ln, lp, lf, *reduce_ = sch.get_loops(conv)
            rows = []
        else:
            ln, ly, lp, lf, *reduce_ = sch.get_loops(conv)
            rows, pixels = [ly], w
        po, pi = sch.split(lp, factors=[None, px])
        fo, fi = sch.split(lf, factors=[None, fv])
        pixel_major = (pixels > f or (flat and rc * f * 4 <= PIXEL_MAJOR_MAX_WEIGHT_BYTES)) and not strips_outer
        tiles = [po, fo] if pixel_major else [fo, po]  # re-read the smaller operand from cache, unless small
        sch.reorder(ln, *rows, *tiles, *reduce_, pi, fi)
        outer = sch.fuse(ln, *rows, *tiles)
        sch.parallel(outer)
        sch.unroll(pi)
        split_vectors(sch, fi, lanes, max_unroll=max_acc)  # the tile's vectors, every one unrolled
        epilogue_and_init(sch, conv, out, outer, reduce_[0], lanes, max_unroll=max_acc)
        if prefetches_strips(flat, tiles[0] is fo, rc * fv * 4, px * fv // lanes <= stack, f // fv):
            prefetch_next_strip(sch, conv, reduce_[-1], outer, pixels // px, f // fv, fv)
        return sch


def _read_input(sch: Any, producers: list[Any], window: tuple[int, int], lanes: int) -> None:
    """A 1x1's "padding" (a plain copy) and the stem's NCHW -> NHWC transpose (`input_layout_fusion`)
    are read in place; a kxk conv's padding is its own parallel loop nest (`_pad_in_parallel`)."""
    in_place = window == (1, 1) or reads_network_input(sch, producers)
    for block in producers:
        if in_place:
            sch.compute_inline(block)
        else:
            _pad_in_parallel(sch, block, lanes)


def pad_gemm(sch: Any, conv: Any, out: Any | None, width: int, tile: tuple[int, int], weight_index: int,
             lanes: int) -> Any:
    """Pad a flat 1x1 conv's GEMM (`flatten_pixels` done, weights not packed) to whole register tiles
    of `tile` (pixels, channels): the input is copied once into a buffer of whole pixel tiles, zeros
    after its last pixel (one loop nest, channels in vectors: 37-220 KB at 7x7 in fbnet); the weights
    are packed with zero channels after the last, at compile time (`pack_weights`); the accumulators
    cover whole tiles and the epilogue writes only real pixels and channels, a test per tile outside
    the reduction. Returns the block that writes the output (`out`, or the padding's write-back where
    the conv had none)."""
    px, fv = tile
    (source_index,) = (i for i in range(len(sch.get(conv).reads)) if i != weight_index)
    source = sch.cache_read(conv, source_index, "global")   # the input, as (n, pixel, channel)
    sch.transform_layout(source, ("write", 0), lambda n, y, x, c: (n, y * width + x, c))
    sch.pad_einsum(conv, [1, px, fv, 1, 1, 1])
    weights = sch.get(conv).reads[weight_index].source
    zeroed = [b for b in sch.get_producers(conv) if sch.get(b).writes[0].source.same_as(weights)]
    pack_read(sch, conv, weight_index, fv)
    for block in zeroed:                      # the zero channels, into the compile-time packing
        sch.compute_inline(block)
    sch.compute_inline(source)                # into the padded copy, or back into the conv
    for block in sch.get_producers(conv):     # the padded copy of the input, if the pixels needed one
        if len(sch.get(block).writes[0].region) == 3:
            split_vectors(sch, sch.get_loops(block)[-1], lanes)
    for back in sch.get_consumers(conv):      # the write-back from the padded result
        if out is None:
            return back
        sch.compute_inline(back)
    return out


def reads_network_input(sch: Any, producers: list[Any]) -> bool:
    """Whether a kxk conv's producers start with the network input's NCHW -> NHWC transpose
    (`lowering.input_layout_fusion`). Such a stem reads its few input channels as scalar broadcasts
    whatever their layout, so it reads the NCHW input in place, the padding as bounds tests, instead
    of a transposing, padding pass over the image first. Measured here (Xeon, 1 thread, kernel alone,
    `docs/measurements/fused-depthwise-probes-2026-12-05.md`): 3->16 @ 224 x0.62, 3->32 @ 224 x0.72,
    3->16 @ 160 x0.58; other kxk convs read in place ranged x0.95-x2.5, so they keep the pass."""
    return bool(producers) and sch.get(producers[0]).name_hint.startswith("T_transpose")


# Whether a 1x1 conv that reads its weights strip by strip (fewer pixels than channels: 7x7 and 14x14
# planes) prefetches the next strip while it computes on this one (`prefetch_next_strip`), for strips
# of more than PREFETCH_STRIPS_OVER_BYTES. Every strip size, measured in networks (Xeon, 224 px, 9
# archs, `bench/fusion_ab.py --rewrite strip-prefetch`): x0.979 at 1 thread and x0.985 at 2 against
# strips beyond L1_BUDGET_BYTES only (a 160->960 conv at 7x7 with cold weights x0.90, hot x1.00).
# Convs over more pixels than channels, which walk every strip inside each pixel tile, prefetching
# too measured no better (x0.979, x0.986; docs/measurements/strip-prefetch-2026-12-05.md): they don't.
PREFETCH_STRIPS = True
PREFETCH_STRIPS_OVER_BYTES = 0


def prefetches_strips(flat: bool, fo_outer: bool, strip_bytes: int, on_stack: bool, strips: int) -> bool:
    """Whether a 1x1 conv's tiles prefetch the next weight strip: flat 1x1s over fewer pixels than
    channels (strips outermost) whose accumulators are a stack array (`prefetch_next_strip`), strips
    of more than `PREFETCH_STRIPS_OVER_BYTES`, and more than one of them: before revision 38 a conv
    whose one strip is all its channels (40 at 28x28 in a 5-vector AVX2 tile) prefetched that strip
    itself, two prefetches per step beside 7 loads for 10 FMAs."""
    return (PREFETCH_STRIPS and flat and fo_outer and on_stack and strips > 1
            and strip_bytes > PREFETCH_STRIPS_OVER_BYTES)


def prefetch_next_strip(sch: Any, conv: Any, rc_loop: Any, outer: Any, pixel_tiles: int, strips: int,
                        fv: int) -> None:
    """At every step over the input channels, prefetch (into L2) the next channel tile's weight row.

    Why: in a network these convs find their weights cold (the head's 352->1984 conv: 2.8 MB), and
    a tile's first pass over its strip stalls on them at L3 bandwidth (~24 GB/s here), while the
    hardware prefetcher never runs ahead into the next strip. Measured here (Xeon, 1 thread, caches
    flushed before each call): 1104->192 at 7x7 x0.89, 352->1984 x0.88, hot x0.98-1.02; networks
    x0.980 (9 archs, 224 px). Only where the accumulators are a stack array: a call LLVM cannot see
    through keeps accumulators in a workspace buffer stored back at every step (x2 slower)."""
    from tvm import tirx

    packed = packed_weights(sch, conv)
    loop = sch.get(rc_loop)
    following = tirx.min(sch.get(outer).loop_var // pixel_tiles + 1, strips - 1)
    zero = tirx.const(0, "int64")
    rows = [tirx.BufferLoad(packed, [following, zero, zero, loop.loop_var, tirx.const(line * 16, "int64")])
            for line in range(max(1, fv * 4 // 64))]   # one prefetch per 64-byte line of the row
    prefetch_each_step(sch, rc_loop, rows)


def prefetch_each_step(sch: Any, loop_rv: Any, loads: list[Any]) -> None:
    """Prefix the body of `loop_rv` with a prefetch into L2 of the address of each of `loads` (TIR
    BufferLoads over the loop's variables), issued once per iteration."""
    from tvm import tirx

    loop = sch.get(loop_rv)
    read, to_l2, data = (tirx.const(v, "int32") for v in (0, 2, 1))
    prefetches = [tirx.Evaluate(tirx.call_llvm_intrin("void", "llvm.prefetch", tirx.address_of(load), read, to_l2, data))
                  for load in loads]
    replace_loop(sch, loop_rv, body=tirx.SeqStmt([*prefetches, loop.body]))


def fused_depthwise_channels(channels: int, px: int, target: tvm.target.Target) -> int:
    """Channels per block of a depthwise computed under a fused 1x1's tile of `px` pixels: as a
    depthwise alone (`depthwise_channel_vectors`), but px x vectors within `depthwise_accumulators`.
    Before revision 34 AVX2 took two vectors under 8 pixels: 16 accumulators, all of its registers
    (networks x0.86-1.00 with one, znver3, `docs/measurements/znver3-2026-12-07.md`)."""
    vectors = min(depthwise_channel_vectors(target), max(1, depthwise_accumulators(target) // px))
    return channel_tile(channels, vector_lanes(target), vectors)


# Pixels side by side in a depthwise tile, where the row and the accumulators allow.
DEPTHWISE_TILE_PIXELS = 8
# Tile widths tried first, in order, where they divide a row: 8 or 6 pixels beat a larger odd divisor.
TILE_PIXELS_PREFERRED = (8, 7, 6, 4)


def depthwise_channel_vectors(target: tvm.target.Target) -> int:
    """Vectors of channels in a depthwise tile: 16 float channels (one 64-byte cache line of a pixel),
    at most two vectors, and no more than leave `DEPTHWISE_TILE_PIXELS` pixels within
    `depthwise_accumulators`: one for AVX-512 (16 lanes) and AVX2 (8 accumulators of its 16
    registers), two for NEON (16 of 32). Measured: one vector x 8 pixels against two x 8 on AVX-512
    (Xeon, 1 thread, kernel alone, 15 shapes) 0.73-0.83x on k5/k7 windows over planes of 14-112
    pixels, 0.95-1.05x on the others; on AVX2 (znver3) 8 pixels x 1 vector against 4 x 2 (revision
    34), ofa-mbv3's networks (whose squeeze-excite keeps depthwise kernels apart) x0.951-1.011 and
    x0.960-1.004 in two runs (`docs/measurements/znver3-2026-12-07.md`)."""
    lanes = vector_lanes(target)
    return max(1, min(2, 16 // lanes, depthwise_accumulators(target) // DEPTHWISE_TILE_PIXELS))


class ChannelsLastDepthwise(Rule):
    """An NHWC depthwise convolution (kxk window, one input channel per output channel)."""

    name = "nhwc-depthwise"

    def __init__(self, max_acc_vectors: int | None = None, max_channel_vectors: int | None = None) -> None:
        self.max_acc_vectors = max_acc_vectors  # None: the target's (`depthwise_accumulators`)
        self.max_channel_vectors = max_channel_vectors  # None: `depthwise_channel_vectors`

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        parts = conv_parts(func, NHWC_CHANNEL_AXIS)
        if parts is None:
            return None
        _n, h, w, f, kh, kw, rc = parts.extents
        if rc != 1 or (kh, kw) == (1, 1):
            return None
        sch, conv = parts.sch, parts.reduction
        lanes = vector_lanes(target)
        fv = channel_tile(f, lanes, self.max_channel_vectors or depthwise_channel_vectors(target))
        max_acc = self.max_acc_vectors or depthwise_accumulators(target)
        px = largest_divisor(w, max(1, max_acc // math.ceil(fv / lanes)), prefer=TILE_PIXELS_PREFERRED)
        bands = depthwise_bands(kh, row_stride(sch, conv) or 1, h, target_cores(target))
        out = inline_chain(sch, parts.consumers)
        for pad in parts.producers:  # read the input in place: the border tests stay in the taps
            sch.compute_inline(pad)
        ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(conv)
        xo, xi = sch.split(lx, factors=[None, px])
        fo, fi = sch.split(lf, factors=[None, fv])
        if bands:
            band, ly = sch.split(ly, factors=[bands, None])
            sch.reorder(ln, band, fo, ly, xo, lrc, lry, lrx, xi, fi)
            sch.parallel(sch.fuse(ln, band))
        else:
            sch.reorder(ln, ly, xo, fo, lrc, lry, lrx, xi, fi)
            sch.parallel(sch.fuse(ln, ly))
        for loop in (lry, lrx, xi):  # the whole window unrolled: neighbouring taps share input vectors
            sch.unroll(loop)
        split_vectors(sch, fi, lanes)
        epilogue_and_init(sch, conv, out, xo if bands else fo, lrc, lanes)
        return sch


# A depthwise whose window rows are each read by at least this many output rows (kh // stride: k3
# and wider at stride 1, k5 and wider at stride 2) walks its channel vectors outside its rows, in one
# band of rows per core, when the build knows its cores: one vector's slab of the window's input rows
# (7 x 56 pixels x 64 bytes for a 56x56 k7) stays in L1 from one output row to the next, where row by
# row each output row read its window's rows of every channel again from L2. Measured here (Xeon,
# AVX-512, 1 thread, kernel alone, hot, alternating; `docs/measurements/depthwise-bands-2026-12-07.md`):
# k5 / k7 at stride 2 over 56x56 and 28x28 x0.79-0.92, k3-k7 at stride 1 x0.81-0.99; k3 at stride 2
# x0.86-1.33, three shapes of four slower (each input row serves one or two output rows: little to
# keep), so those stay row by row.
MIN_DEPTHWISE_ROW_REUSE = 2


def depthwise_bands(kh: int, stride: int, rows: int, cores: int | None) -> int:
    """Bands of output rows, one per core, that a depthwise walks channel vectors outside of; 0: row
    by row, channel vectors inside each row's pixel tiles (also where the cores do not divide the rows:
    the 7 rows of a 7x7 plane on two cores)."""
    if cores is None or rows % cores or kh // max(stride, 1) < MIN_DEPTHWISE_ROW_REUSE:
        return 0
    return cores


def _broadcast_epilogue(sch: Any, out: Any, lanes: int) -> None:
    """An epilogue over a larger space than the conv (the gate's multiply over the feature map, with
    the gate's elementwise steps inlined into it): its own loop nest, rows across cores, channels
    in vectors; the conv's few outputs stay a small buffer in between."""
    loops = sch.get_loops(out)
    split_vectors(sch, loops[-1], lanes)
    sch.parallel(sch.fuse(*loops[:-1]) if len(loops) > 2 else loops[0])


def epilogue_and_init(sch: Any, conv: Any, out: Any, at: Any, first_reduce: Any, lanes: int,
                       max_unroll: int = 4) -> None:
    """The epilogue on the register tile under `at` and the accumulators' zeroing, both in whole
    vectors (up to `max_unroll` of them unrolled: the tile's width); the accumulators become a stack
    array (`accumulators_on_stack`)."""
    if out is not None:
        accumulators_on_stack(sch, conv)
        sch.reverse_compute_at(out, at, preserve_unit_loops=True)
        split_vectors(sch, sch.get_loops(out)[-1], lanes, max_unroll)
    init = sch.decompose_reduction(conv, first_reduce)
    split_vectors(sch, sch.get_loops(init)[-1], lanes, max_unroll)


def pack_weights(sch: Any, conv: Any, fv: int) -> None:
    """Store HWIO weights as (O / fv, H, W, I, fv): each register tile's weights become one
    contiguous strip. In HWIO the rows of one tile lie 4*O bytes apart, a page apart for the
    1984-channel head conv, where the hardware prefetcher stops: read cold, as they are in a
    network, that conv ran at ~6 GB/s. The copy is a separate block marked as a layout-rewrite
    preprocess; the pipeline's `SplitLayoutRewritePreproc` + `FoldConstant` move it out of the
    function and run it once, at compile time, on the constant weights."""
    found = weight_read(sch, conv)
    if found is not None and fv > 1:
        pack_read(sch, conv, found[0], fv)


def pack_read(sch: Any, conv: Any, index: int, fv: int) -> Any:
    """`conv`'s read `index` (HWIO weights) through a compile-time copy laid out (O / fv, H, W, I, fv)
    (`pack_weights`); returns the copy's block."""
    packed = sch.cache_read(conv, index, "global")
    sch.transform_layout(packed, ("write", 0), lambda h, w, i, o: (o // fv, h, w, i, o % fv))
    sch.annotate(packed, "meta_schedule.layout_rewrite_preproc", True)
    return packed


def packed_weights(sch: Any, conv: Any) -> Any:
    """The buffer `pack_weights` gave `conv` to read: its one five-dimensional operand."""
    return next(r.source for r in sch.get(conv).reads if len(r.region) == 5)


def conv_input_shape(sch: Any, conv: Any) -> list[int]:
    """The conv's NHWC input shape (its first 4-d read)."""
    for region in sch.get(conv).reads:
        shape = [int(d) for d in region.source.shape]
        if len(shape) == 4:
            return shape
    return [-1, -1, -1, -1]


def _input_pixels(sch: Any, conv: Any) -> int:
    """H*W of the conv's input, to tell stride-1 1x1 convs from strided ones."""
    shape = conv_input_shape(sch, conv)
    return shape[1] * shape[2]


def _input_channels(sch: Any, conv: Any) -> int:
    return conv_input_shape(sch, conv)[3]


def flatten_pixels(sch: Any, conv: Any, out: Any, w: int) -> None:
    """(y, x) -> one pixel axis in the conv, its intermediate and the epilogue block."""
    sch.transform_layout(conv, ("write", 0), lambda n, y, x, f: (n, y * w + x, f))
    sch.transform_block_layout(conv, lambda n, y, x, f, ry, rx, rc: (n, y * w + x, f, ry, rx, rc))
    if out is not None:
        sch.transform_block_layout(out, lambda n, y, x, f: (n, y * w + x, f))


def _pad_in_parallel(sch: Any, pad: Any, lanes: int) -> None:
    """The padded input as its own loop nest: rows across cores, the rest as `_vector_copy`."""
    ln, ly, _lx, _lc = sch.get_loops(pad)
    _vector_copy(sch, pad, lanes)
    sch.parallel(sch.fuse(ln, ly))


def _vector_copy(sch: Any, pad: Any, lanes: int) -> None:
    """A padding block under its channel block: channels vectorized, the column loop split at the
    border (TVM's LoopPartition, by hint) so the interior copies without a bounds test."""
    *_, lx, lc = sch.get_loops(pad)
    sch.annotate(lx, "pragma_loop_partition_hint", 1)
    vec = pow2_divisor(static_extents(sch, [lc])[0], 2 * lanes)   # (a power of two: `vectorize_inner`)
    if vec > 1:
        _, ci = sch.split(lc, factors=[None, vec])
        sch.vectorize(ci)


class ChannelsLastDepthwisePointwise(Rule):
    """A depthwise convolution fused with the 1x1 convolution that reads it (`lowering.dw_pw_fusion`).

    Rows across cores; in a row, each tile of PX pixels is first computed by the depthwise (per
    block of channels: the window unrolled, its bias and activation on the accumulators) into a
    PX x C buffer (too large for a stack array: TVM's workspace pool; one allocation per row instead of
    per tile measured no faster), then projected by the 1x1 (a PX x FV register tile per block of
    output channels), so the depthwise output never leaves L1."""

    name = "nhwc-depthwise-pointwise"

    def __init__(self, pixels: int | None = None) -> None:
        self.pixels = pixels   # pixels per tile; None: the largest of 8, 7, 6, 4 dividing the row

    def apply(self, func: Any, target: tvm.target.Target, tunable: bool) -> Any:
        found = _two_convolutions(func)
        if found is None:
            return None
        sch, blocks, (first, second) = found
        dw, pw, between = blocks[first], blocks[second], blocks[first + 1:second]
        ex_dw, ex_pw = static_extents(sch, sch.get_loops(dw)), static_extents(sch, sch.get_loops(pw))
        if (ex_dw is None or ex_pw is None or not between or ex_dw[6] != 1 or ex_dw[4:6] == [1, 1]
                or ex_pw[4:6] != [1, 1] or ex_dw[1:3] != ex_pw[1:3]):
            return None
        lanes, (w, mid, f) = vector_lanes(target), (ex_pw[2], ex_dw[3], ex_pw[3])
        acc = stack_gemm_accumulators(target)
        px = (largest_divisor(w, self.pixels) if self.pixels
              else fused_pixels(w, f, lanes, acc, depthwise_accumulators(target), depth=mid))
        sub, fv = pointwise_subtile(px, f, mid, lanes, acc)
        pack_weights(sch, pw, fv)
        out = inline_chain(sch, blocks[second + 1:])
        for block in blocks[:first] + between[:-1]:   # padding read in place; bias, activation into the copy
            sch.compute_inline(block)
        tile = between[-1]                               # the depthwise output as the 1x1 reads it
        _rows, xo, fo, first_reduce = tile_pointwise(sch, pw, px, fv, lanes, subtile=sub)
        epilogue_and_init(sch, pw, out, fo, first_reduce, lanes, max_unroll=acc)
        depthwise_under_tile(sch, dw, tile, xo, fused_depthwise_channels(mid, px, target), lanes,
                             PARTITION_MIN_WINDOW)
        return sch


# Whether a fused depthwise + 1x1 picks its pixels per tile for the 1x1's register tile (`fused_pixels`);
# off: the first of 8, 7, 6, 4 dividing the row, as a depthwise alone does (revision 18 and before).
FUSED_TILE_FILLS_ACCUMULATORS = True


def fused_pixels(w: int, f: int, lanes: int, acc: int, max_px: int, depth: int | None = None) -> int:
    """Pixels per tile of a fused depthwise + 1x1 over rows of `w` pixels into `f` channels: as a
    depthwise alone (the first of 8, 7, 6, 4 dividing the row), except 7 instead of 8 where that
    gives the 1x1 a larger register tile (pixels x channel vectors within `acc` accumulators). On
    AVX-512 a tile of 8 pixels leaves room for one vector of output channels (8 of 15 accumulators),
    one of 7 for two (14): measured here (Xeon, 1 thread, kernel alone,
    `docs/measurements/fused-depthwise-probes-2026-12-05.md`), k3 depthwise + 1x1 to 32 channels on
    56x56 planes x0.88-0.90, k7 x0.96; into 16 channels both have one vector and 8 stays. On AVX2's
    and NEON's tiles 7 never holds more, so their tiles are as before.

    Given the 1x1's `depth`, a tile of twice those pixels (the depthwise computing it in halves,
    `depthwise_under_tile`) where the row holds it and the 1x1's sub-tile (`pointwise_subtile`) rates
    `SUBTILE_MIN_GAIN` faster: AVX2 on rows of 28 takes 14 pixels, whose 1x1 projects 2 pixels x 4 or
    5 vectors instead of 7 x 1 (fused kernels x0.89-0.92 alone, `fused-subtiles-2026-12-07.md`)."""
    px = largest_divisor(w, max_px, prefer=TILE_PIXELS_PREFERRED)
    if FUSED_SUBTILES and depth is not None and w % (2 * px) == 0 and _doubling_pays(px, f, depth, lanes, acc):
        return 2 * px
    if not FUSED_TILE_FILLS_ACCUMULATORS or px != 8 or w % 7:
        return px
    return max((8, 7), key=lambda p: p * channel_tile(f, lanes, max(1, acc // p)))


# Whether a fused 1x1 may project a depthwise tile in sub-tiles of its pixels (`pointwise_subtile`)
# and a fused tile may span two depthwise tiles (`fused_pixels`); off: one register tile of all the
# depthwise tile's pixels (revision 40 and before).
FUSED_SUBTILES = True
SUBTILE_MIN_GAIN = 1.05   # 1 pixel x 8 vectors rates x1.02 of 7 x 1: not worth re-reading the weights per pixel


def pointwise_subtile(px: int, f: int, depth: int, lanes: int, acc: int) -> tuple[int, int]:
    """(pixels, channels) of the register tile with which a fused 1x1 into `f` channels projects a
    tile of `px` pixels (`depth` channels): the whole tile and as many vectors as fit `acc`
    accumulators, unless `register_tile` finds a tile of pixels dividing `px` that `tile_cycles`
    rates `SUBTILE_MIN_GAIN` faster. On AVX2 a tile of 8 pixels leaves the 1x1 one vector: 8
    broadcasts and a weight load per 8 FMAs, load-bound; 4 pixels x 2 or 3 vectors is not. Measured
    alone (AMD EPYC, znver3, 1 thread, `docs/measurements/fused-subtiles-2026-12-07.md`): fbnet's
    112x112 k3 16 -> 16 block's fused kernel x0.78, its 56x56 k3 e3 one x0.91. Where 8 pixels
    already hold several vectors (NEON, 32 registers), or no divisor does better (AVX-512 tiles of
    one vector), the tile is as before."""
    sub, fv, _ = _subtile(px, f, depth, lanes, acc)
    return sub, fv


def _subtile(px: int, f: int, depth: int, lanes: int, acc: int) -> tuple[int, int, float]:
    """`pointwise_subtile`'s tile and its FMAs per cycle (`_rate`)."""
    shape = GemmShape(px, f, depth, weights_reused=False)
    whole = channel_tile(f, lanes, max(1, acc // px))
    whole_rate = _rate(shape, px, whole, lanes)
    if not FUSED_SUBTILES:
        return px, whole, whole_rate
    sub, fv = register_tile(shape, lanes, acc)
    sub_rate = _rate(shape, sub, fv, lanes)
    whole_fits = px * (whole // lanes) <= acc   # not on a tile of two depthwise tiles (`fused_pixels`)
    if whole_fits and sub_rate <= whole_rate * SUBTILE_MIN_GAIN:
        return px, whole, whole_rate
    return sub, fv, sub_rate


def _doubling_pays(px: int, f: int, depth: int, lanes: int, acc: int) -> bool:
    """Whether the 1x1 projects a tile of 2 x `px` pixels in sub-tiles that `tile_cycles` rates
    `SUBTILE_MIN_GAIN` faster than its tile of `px`."""
    sub, _, doubled_rate = _subtile(2 * px, f, depth, lanes, acc)
    return sub < 2 * px and doubled_rate > _subtile(px, f, depth, lanes, acc)[2] * SUBTILE_MIN_GAIN


# Cycles before an FMA's result feeds the next FMA on it (Zen 3, Intel cores): a tile's step takes at
# least this long, each accumulator being one chain (a tile of 2 x 2 vectors keeps 4 FMAs in flight).
FMA_LATENCY_CYCLES = 4


def _rate(shape: GemmShape, px: int, fv: int, lanes: int) -> float:
    """FMAs per cycle of a PX x FV tile: `tile_cycles`, and no faster than its accumulator chains allow."""
    return px * (fv // lanes) / max(tile_cycles(shape, px, fv // lanes, lanes), FMA_LATENCY_CYCLES)


def tile_pointwise(sch: Any, pw: Any, px: int, fv: int, lanes: int,
                   band_rows: int | None = None, subtile: int | None = None) -> tuple[Any, Any, Any, Any]:
    """The 1x1: rows across cores (in bands of `band_rows`, when given), then tiles of `px` pixels,
    blocks of `fv` output channels, the reduction, the register tile; returns (the parallel loop,
    pixel tile loop, channel block loop, first reduction loop)."""
    ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(pw)
    rows = [ly] if band_rows is None else sch.split(ly, factors=[None, band_rows])
    xo, xi = sch.split(lx, factors=[None, px])
    subs = []
    if subtile is not None and subtile != px:
        xs, xi = sch.split(xi, factors=[None, subtile])
        subs = [xs]
    fo, fi = sch.split(lf, factors=[None, fv])
    sch.reorder(ln, *rows, xo, *subs, fo, lry, lrx, lrc, xi, fi)
    outer = sch.fuse(ln, rows[0])
    sch.parallel(outer)
    sch.unroll(xi)
    split_vectors(sch, fi, lanes, max_unroll=max(1, fv // lanes))
    return outer, xo, fo, lry


# A fused depthwise with a window at least this wide (5x5, 7x7) splits its pixel tiles into border
# and interior tiles (TVM's LoopPartition, by hint), so interior tiles read their window with no
# padding test, and loops over its window's rows (a fifth to a seventh of the code, which keeps the
# three copies within the compile budget); a 3x3 keeps one unrolled body (partitioned, two 3x3 blocks
# ran x1.02 and x1.04 of their unpartitioned time). None: never partition.
PARTITION_MIN_WINDOW: int | None = 5
# Whether such a depthwise at stride 2 also unrolls its window's columns. Off: a loop over the columns,
# each the tile's pixels unrolled. Unrolled, LLVM keeps the inputs that neighbouring taps share (2 x 8
# pixels + the window, over AVX2's 16 registers) and spills them: proxyless's 112x112 k7 stride-2
# block ran x1.036 of the loop's time alone, proxyless#0 x1.035 (`partitioned-tiles-2026-12-07.md`).
UNROLL_STRIDED_COLUMNS = False


def depthwise_under_tile(sch: Any, dw: Any, tile: Any, xo: Any, fv: int, lanes: int,
                         partition_min_window: int | None) -> None:
    """The depthwise's output `tile` (a local buffer) and the depthwise itself computed under the 1x1's
    pixel tile loop `xo` (`_depthwise_tile`), so its output never leaves L1.

    The depthwise reads its padding in place: every window tap tests that its pixel is in the plane.
    Inside a row only the first and last tiles can read padding, so for windows of
    `partition_min_window` and wider (None: never) `xo` is partitioned: the interior tiles' taps
    become plain loads that LLVM folds into the FMAs. Measured alone, 1 thread (znver3,
    `docs/measurements/partitioned-tiles-2026-12-07.md`): fbnet's 112x112 k5 block x0.88-0.93, its
    56x56 k5 block x0.95, proxyless's 56x56 k7 block x0.94-0.96."""
    sch.compute_at(tile, xo, preserve_unit_loops=True)
    sch.set_scope(tile, 0, "local")
    sch.compute_at(dw, xo, preserve_unit_loops=True)
    window = static_extents(sch, sch.get_loops(dw)[-3:-2])[0]   # its loops end in the window's ry, rx, rc
    tile_px = static_extents(sch, sch.get_loops(dw)[-5:-4])[0]   # a fused tile of two depthwise tiles: halves
    half = largest_divisor(tile_px, DEPTHWISE_TILE_PIXELS, prefer=TILE_PIXELS_PREFERRED)
    partition = partition_min_window is not None and window >= partition_min_window
    unrolled = 2                                                   # the window's rows and columns
    if partition:
        sch.annotate(xo, "pragma_loop_partition_hint", 1)
        strided = (row_stride(sch, dw) or 1) > 1
        unrolled = 0 if strided and not UNROLL_STRIDED_COLUMNS else 1
    _depthwise_tile(sch, dw, tile, fv, lanes, unrolled, half if half < tile_px else None)


def _depthwise_tile(sch: Any, dw: Any, tile: Any, fv: int, lanes: int, unrolled: int,
                    half: int | None = None) -> None:
    """The depthwise under the pixel tile: per block of `fv` channels (and per `half` of the tile's
    pixels, when given) the window over the tile's pixels (unrolled; of the window's loops, the last
    `unrolled` of rows and columns too), accumulators in registers, then its bias and activation
    into `tile`."""
    *_, ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(dw)
    halves = []
    if half is not None:
        xs, lx = sch.split(lx, factors=[None, half])
        halves = [xs]
    fo, fi = sch.split(lf, factors=[None, fv])
    sch.reorder(ln, ly, *halves, fo, lrc, lry, lrx, lx, fi)
    for loop in [lry, lrx][2 - unrolled:] + [lx]:
        sch.unroll(loop)
    split_vectors(sch, fi, lanes)
    epilogue_and_init(sch, dw, tile, fo, lrc, lanes)


def _two_convolutions(func: Any) -> tuple[Any, list[Any], tuple[int, int]] | None:
    """(schedule, root blocks, indices of the two reduction blocks) of a function with exactly two
    channels-last convolutions (iterators SSSSRRR, output channel last), else None."""
    found = kinded_blocks(func)
    if found is None:
        return None
    sch, blocks, kinds = found
    reductions = [i for i, k in enumerate(kinds) if k == "SSSSRRR"]
    if len(reductions) != 2 or any(output_channel_axis(sch, blocks[i]) != NHWC_CHANNEL_AXIS for i in reductions):
        return None
    others = [i for i, k in enumerate(kinds) if i not in reductions and "R" in k]
    return None if others else (sch, blocks, (reductions[0], reductions[1]))
