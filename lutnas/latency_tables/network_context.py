"""Blocks in their networks' context, for TVM tables: covering networks timed whole at profile time.

A `lutnas-cpu` block timed alone runs with its weights and activations hot in L1/L2. Inside a network
every block meets caches the other blocks have filled, and the network runs ~1.15-1.28x the sum of
its blocks (`docs/measurements/network-context-2026-12-03.md`). Chaining the block libraries on
real intermediate tensors overshoots the other way (+11-23%: separate VMs, separately planned
buffers), so neither timing of a block alone is what the network sees.

onnxruntime tables answer this with the runtime's per-node profiler (`context.py`): each covering
network's measured latency is spread over its blocks in proportion to their profiled times. TVM
0.27's VM has no per-kernel profiler, so here the proportions come from the blocks' own (hot) times:
right after the blocks, `profile` times the space's covering networks (every layer x choice in at
least two, `context.covering_archs`) whole **interleaved with every block of the table** (cycles of
one sample of each), so a network and its blocks share every time window: on this VM the speed moves
by 40% within seconds, and a ratio of a network timed now to blocks timed a minute ago read x1.41-1.70
where the same ratio within one window reads x1.17-1.28. A network's context ratio is its latency over
the sum of its blocks in the same run; a cell's factor is the geometric mean of the ratios of the
covering networks it sits in, the fixed blocks take the mean over all of them. A ratio holds only
against blocks of its own run (here the blocks of one profile read x0.79 of their stored passes a few
minutes later, and the network/blocks ratio itself moved from x1.35-1.38 to x1.14-1.24 at 2 threads),
so the run's block estimates, the ratios and the networks' latencies stay together with the table
(attachment "context"), and `LatencyTable.dense` predicts each cell as its block in that run times its
factor: a plain `predict` is the in-network latency at the time of the run, and `validate` re-times the
same covering networks as the table's drift anchors. The profile's block passes stay as measured.

Per-cell factors miss one effect that is not a cell's: a network's weights. A block timed alone finds
its weights in L1/L2; in a network it finds them where the rest of the network left room, and that
depends on the whole network's weight bytes. On proxyless at 64 px (AMD EPYC VM) networks of 10-12 MB
of weights ran x1.25-1.41 the sum of their blocks, networks of 14-18 MB x1.51-1.86, and the per-cell
factors (fitted on covering networks of 12.5-17 MB) over-predicted the searched, small networks by
+15% to +30% (`docs/measurements/footprint-context-2026-12-07.md`). So the covering networks are
joined by `FOOTPRINT_ARCHS` networks from the space's lightest to its heaviest, and when the networks'
weights spread enough the table is the additive fit (`FootprintFit`)
`network = per_block x its blocks' ms + per_mb x its weights (MB) + intercept`: a cell costs
`per_block x block + per_mb x its weights` and the fixed blocks take the intercept. Tables measured
before keep their per-cell factors.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.errors import ArchError, LutnasError
from lutnas.profiler.rounds import INTERLEAVED_CYCLES

if TYPE_CHECKING:
    from lutnas.latency_tables.dense import DenseTable
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.profiler.runners import Runner
    from lutnas.spaces import SearchSpace
    from lutnas.spaces.base import LayerTable
    from lutnas.spaces.blocks import Block

ATTACHMENT = "context"
COVER_ROUNDS = 2      # every layer x choice in at least this many covering networks
COVER_SEED = 0
FOOTPRINT_ARCHS = 4   # extra networks, the space's lightest to its heaviest in weight bytes
# The footprint fit needs this many networks whose weights spread by this factor (heaviest / lightest);
# short of either, or with a fit that is not physical (a negative slope or fixed cost), the table
# keeps its per-cell factors.
FOOTPRINT_MIN_NETWORKS = 6
FOOTPRINT_MIN_SPREAD = 1.15


@dataclass(frozen=True)
class NetworkContext:
    """Covering networks of a table: each one's latency (ms) and its ratio to the sum of its blocks,
    both from one interleaved run at profile time."""

    archs: tuple[tuple[int, ...], ...]
    ms: tuple[float, ...]
    ratios: tuple[float, ...]
    block_ms: dict[str, float]      # every block's estimate in the same run: what the ratios divide
    measured_at: float
    block_mb: dict[str, float] = field(default_factory=dict)   # every block's weights, MB (none before 12-07)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "covering networks interleaved with the blocks", "archs": [list(a) for a in self.archs],
                "ms": list(self.ms), "ratios": list(self.ratios), "block_ms": dict(self.block_ms),
                "measured_at": self.measured_at, "block_mb": dict(self.block_mb)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> NetworkContext:
        return cls(tuple(tuple(int(c) for c in a) for a in doc["archs"]), tuple(float(v) for v in doc["ms"]),
                   tuple(float(v) for v in doc["ratios"]), {k: float(v) for k, v in doc["block_ms"].items()},
                   float(doc.get("measured_at", 0.0)), {k: float(v) for k, v in doc.get("block_mb", {}).items()})

    def then_by_arch(self) -> dict[tuple[int, ...], float]:
        """Arch -> latency then: `validate`'s drift anchors (`drift.whole_network_anchors`)."""
        return dict(zip(self.archs, self.ms))


def default_context(runtime: str, pipeline: str) -> bool:
    """Whether `profile` measures the context unless told: TVM tables whose blocks carry their
    network's channels-last boundaries (what is left between blocks and networks is the cache state).
    `tvm-default` tables sum to their networks (docs/measurements/history.md) and onnxruntime has its
    in-network method."""
    from lutnas.latency_tables.jobs import network_boundaries

    return network_boundaries(pipeline, runtime)


def stored_context(table: LatencyTable) -> NetworkContext | None:
    doc = table.store.attachment(table.id, ATTACHMENT)
    return NetworkContext.from_dict(doc) if doc else None


def measure_context(table: LatencyTable, *, runner: Runner | None = None, tuning_db: Path | None = None,
                    progress: bool = False, cycles: int = INTERLEAVED_CYCLES) -> NetworkContext:
    """Time the covering networks and every block of the table in `cycles` interleaved cycles
    (networks built as the blocks were) and store the networks' latencies and context ratios."""
    from lutnas.latency_tables.context import covering_archs
    from lutnas.latency_tables.jobs import table_block_jobs, work_dir_for
    from lutnas.latency_tables.networks import table_network_jobs
    from lutnas.latency_tables.stats import estimates
    from lutnas.latency_tables.store import Store
    from lutnas.lowering.targets import target_from_json
    from lutnas.profiler.rounds import RoundHooks, measure_interleaved
    from lutnas.profiler.runners import LocalRunner
    from lutnas.progress import ProgressBar
    from lutnas.spaces import get_space

    meta, opts = table.meta, table.meta.options
    space = get_space(meta.space)
    target = target_from_json(meta.target_name, meta.target_json)
    runner = runner or LocalRunner(target, meta.runtime, meta.threads)
    if not runner.interleaves:      # before compiling anything
        raise LutnasError(f"{runner.name} cannot hold one device for an interleaved series (a tracker farm), "
                          "which the network context needs: profile with --no-context (or on one board, --rpc)")
    wm, nc = float(opts.get("width_mult", 1.0)), int(opts.get("num_classes", 1000))
    layout = table.layout()
    block_mb = weight_mb(layout.unique_blocks().values())
    archs = [tuple(int(c) for c in a) for a in covering_archs(space, COVER_ROUNDS, COVER_SEED)]
    archs += [a for a in footprint_archs(space, cell_mb(layout, block_mb)[0], FOOTPRINT_ARCHS, COVER_SEED)
              if a not in archs]
    keys = list(layout.unique_blocks())
    blocks = table_block_jobs(table, keys, target, runner.threads, work_dir_for(Path(table.path)), tuning_db, progress)
    networks = table_network_jobs(table, archs, threads=runner.threads, tuning_db=tuning_db, progress=progress)
    with ProgressBar("timing covering networks with the blocks", cycles, enabled=progress, transient=True) as bar:
        passes = measure_interleaved(runner, [blocks[k] for k in keys] + networks, cycles,
                                     hooks=RoundHooks(at_boundary=lambda k: bar.advance() if k else None))
    if passes is None:
        raise LutnasError(f"{runner.name} could not interleave the covering networks with the blocks: "
                          "profile with --no-context")
    values = estimates([[m.samples_ms] for m in passes], table.estimator)
    block_ms = dict(zip(keys, map(float, values)))
    net_ms = [float(v) for v in values[len(keys):]]
    sums = [sum(block_ms[b.key] for b in space.blocks(a, meta.resolution, width_mult=wm, num_classes=nc))
            for a in archs]
    ctx = NetworkContext(tuple(archs), tuple(net_ms), tuple(m / s for m, s in zip(net_ms, sums)), block_ms, time.time(),
                         block_mb)
    with Store(table.path, create=True) as store:
        store.set_attachment(table.id, ATTACHMENT, ctx.to_dict())
    return ctx


def weight_mb(blocks: Iterable[Block]) -> dict[str, float]:
    """Each block's float32 weights (its torch module's parameters), MB, by key."""
    return {b.key: sum(p.numel() for p in b.build().parameters()) * 4 / 1e6 for b in blocks}


def cell_mb(layout: LayerTable, block_mb: dict[str, float]) -> tuple[np.ndarray, float]:
    """([layers, choices] weights of each cell, MB: 0 for a skip, NaN where a layer has no such
    choice; the fixed blocks' weights)."""
    cells = np.full((len(layout.cells), layout.max_choices), np.nan)
    for layer, row in enumerate(layout.cells):
        for c, block in enumerate(row):
            cells[layer, c] = 0.0 if block is None else block_mb[block.key]
    return cells, float(sum(block_mb[b.key] for b in layout.fixed))


def footprint_archs(space: SearchSpace, cells: np.ndarray, n: int, seed: int) -> list[tuple[int, ...]]:
    """`n` valid archs spanning the space's weights (`cells`, MB per layer x choice): each layer takes
    its heaviest choice with probability i / (n - 1), else its lightest, so the first is the lightest
    arch and the last the heaviest; where the space rejects one (OFA's depth rule), the valid sample
    closest to it in weights stands in."""
    rng = np.random.default_rng(seed)
    light, heavy = np.nanargmin(cells, axis=1), np.nanargmax(cells, axis=1)
    rows = np.arange(cells.shape[0])
    out: list[tuple[int, ...]] = []
    for q in np.linspace(0.0, 1.0, n):
        pick = np.where(rng.random(cells.shape[0]) < q, heavy, light)
        try:
            arch = tuple(int(c) for c in space.validate(pick.tolist()))
        except ArchError:
            target = float(cells[rows, pick].sum())
            drawn = space.sample_many(rng, 256)
            best = int(np.argmin(np.abs(cells[rows, drawn].sum(axis=1) - target)))
            arch = tuple(int(c) for c in drawn[best])
        if arch not in out:
            out.append(arch)
    return out


@dataclass(frozen=True)
class FootprintFit:
    """`network ms = per_block x (its blocks' ms) + per_mb x (its weights, MB) + intercept_ms`, least
    squares in relative error over a table's covering networks, with its relative residuals in sample
    and each network left out in turn (rms)."""

    per_block: float
    per_mb: float
    intercept_ms: float
    rms: float
    rms_left_out: float
    mb_range: tuple[float, float]

    def phrase(self) -> str:
        lo, hi = self.mb_range
        return (f"network = x{self.per_block:.3f} its blocks + {self.per_mb * 1e3:.1f} us/MB x its weights "
                f"({lo:.1f}-{hi:.1f} MB) {self.intercept_ms:+.3f} ms, rms {self.rms:.1%} "
                f"(each network left out: {self.rms_left_out:.1%})")


def fit_footprint(block_sums: np.ndarray, weights_mb: np.ndarray, net_ms: np.ndarray) -> FootprintFit | None:
    """The footprint fit of networks (their blocks' summed ms, weights in MB, latency), or None when
    they are too few, their weights spread too little, or the fit is not physical (a slope below 0)."""
    n = len(net_ms)
    if n < FOOTPRINT_MIN_NETWORKS or weights_mb.max() < FOOTPRINT_MIN_SPREAD * weights_mb.min():
        return None
    x = np.c_[block_sums, weights_mb, np.ones(n)] / net_ms[:, None]   # relative residuals
    coef = np.linalg.lstsq(x, np.ones(n), rcond=None)[0]
    if coef[0] <= 0 or coef[1] < 0:
        return None
    left_out = [x[i] @ np.linalg.lstsq(np.delete(x, i, 0), np.ones(n - 1), rcond=None)[0] - 1 for i in range(n)]
    rms = float(np.sqrt(np.mean((x @ coef - 1) ** 2)))
    return FootprintFit(float(coef[0]), float(coef[1]), float(coef[2]), rms,
                        float(np.sqrt(np.mean(np.square(left_out)))), (float(weights_mb.min()), float(weights_mb.max())))


@dataclass(frozen=True)
class ContextFactors:
    """How a table's blocks, as timed in the context's run, become in-network costs: a cell costs
    `block x cells + extra_ms`, the fixed blocks `blocks x fixed + fixed_extra_ms`. Either per-cell
    factors (the geometric mean of the ratios of the covering networks a cell sits in, the mean over
    all of them where none does; no extra), or the footprint fit `fit` (one factor, each cell's weights
    at its per-MB cost as extra, the intercept on the fixed blocks). `ratios`: each covering network's."""

    cells: np.ndarray
    fixed: float
    ratios: np.ndarray
    extra_ms: np.ndarray | None = None
    fixed_extra_ms: float = 0.0
    fit: FootprintFit | None = None

    def line(self) -> str:
        lo, hi = float(self.ratios.min()), float(self.ratios.max())
        head = (f"context: {self.ratios.size} covering network(s), timed whole between their blocks, run "
                f"x{lo:.3f}-x{hi:.3f} the sum of their blocks; ")
        if self.fit is None:
            return head + f"in-network factors applied per cell (fixed blocks x{self.fixed:.3f})"
        return head + self.fit.phrase()


def context_weights(layout: LayerTable, ctx: NetworkContext) -> tuple[np.ndarray, float] | None:
    """`cell_mb` of the table's layout from the context's block weights; None for a context measured
    before they were kept (or one that lacks a block)."""
    if not all(key in ctx.block_mb for key in layout.unique_blocks()):
        return None
    return cell_mb(layout, ctx.block_mb)


def context_factors(hot: DenseTable, ctx: NetworkContext,
                    weights: tuple[np.ndarray, float] | None = None) -> ContextFactors:
    """The footprint fit where `weights` (`context_weights`) allow one (`fit_footprint`), else the
    per-cell factors."""
    per_cell = per_cell_factors(hot, ctx)
    if weights is None:
        return per_cell
    cells_mb, fixed_mb = weights
    archs = np.asarray(ctx.archs, dtype=np.int64)
    net_ms, ratios = np.asarray(ctx.ms, dtype=np.float64), np.asarray(ctx.ratios, dtype=np.float64)
    mb = cells_mb[np.arange(archs.shape[1]), archs].sum(axis=1) + fixed_mb
    fit = fit_footprint(net_ms / ratios, mb, net_ms)
    if fit is None or hot.fixed_ms * fit.per_block + fit.per_mb * fixed_mb + fit.intercept_ms < 0:
        return per_cell
    return ContextFactors(np.full(hot.latency_ms.shape, fit.per_block), fit.per_block, per_cell.ratios,
                          np.nan_to_num(cells_mb) * fit.per_mb, fit.per_mb * fixed_mb + fit.intercept_ms, fit)


def per_cell_factors(hot: DenseTable, ctx: NetworkContext) -> ContextFactors:
    """Per cell, the geometric mean of the context ratios of the covering networks it sits in."""
    archs = np.asarray(ctx.archs, dtype=np.int64)
    log_r = np.log(np.asarray(ctx.ratios, dtype=np.float64))
    fixed = float(np.exp(log_r.mean()))
    sums = np.zeros(hot.latency_ms.shape)
    counts = np.zeros(hot.latency_ms.shape)
    rows = np.arange(archs.shape[1])
    for arch, lr in zip(archs, log_r):
        sums[rows, arch] += lr
        counts[rows, arch] += 1
    cells = np.where(counts > 0, np.exp(sums / np.maximum(counts, 1)), fixed)
    return ContextFactors(cells, fixed, np.exp(log_r))


def apply_context(hot: DenseTable, factors: ContextFactors) -> DenseTable:
    """The table with every cell and the fixed blocks scaled by their in-network factor, plus their
    extra cost (the footprint fit's)."""
    f = factors.cells
    extra = 0.0 if factors.extra_ms is None else factors.extra_ms
    return replace(hot, latency_ms=hot.latency_ms * f + extra, var_ms2=hot.var_ms2 * f ** 2,
                   fixed_ms=hot.fixed_ms * factors.fixed + factors.fixed_extra_ms,
                   fixed_var_ms2=hot.fixed_var_ms2 * factors.fixed ** 2)
