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

Per-cell factors miss what is not a cell's: how much of a network's weights the caches keep depends on
all of them, so factors averaged over heavy covering networks over-predicted a search's light ones
(`lutnas.latency_tables.footprint`). So `FOOTPRINT_ARCHS` networks from the space's lightest arch to
its heaviest join the covering ones, every block's weights are kept, and where the networks' weights
spread enough the table is the footprint fit: a cell costs `per_block x block + per_mb x its weights`,
the fixed blocks take the intercept. Contexts measured before keep their per-cell factors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.errors import LutnasError
from lutnas.latency_tables.footprint import (
    FootprintFit,
    cell_mb,
    fit_sums,
    layout_weights,
    weight_mb,
    with_footprint,
)
from lutnas.profiler.rounds import INTERLEAVED_CYCLES

if TYPE_CHECKING:
    from lutnas.latency_tables.dense import DenseTable
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.profiler.runners import Runner
    from lutnas.spaces.base import LayerTable

ATTACHMENT = "context"
COVER_ROUNDS = 2      # every layer x choice in at least this many covering networks
COVER_SEED = 0


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
    from lutnas.latency_tables.context import profiled_archs
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
    archs = profiled_archs(space, cell_mb(layout, block_mb)[0], COVER_ROUNDS, COVER_SEED)
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


@dataclass(frozen=True)
class ContextFactors:
    """How a table's blocks, as timed in the context's run, become in-network costs: a cell costs
    `block x cells + extra_ms`, the fixed blocks `blocks x fixed + fixed_extra_ms`. Either per-cell
    factors (the geometric mean of the ratios of the covering networks a cell sits in, the mean over
    all of them where none does; no extra), or the footprint fit `fit` with the `weights` it prices
    (one factor, each cell's weights at its per-MB cost as extra, the intercept on the fixed blocks).
    `ratios`: each covering network's."""

    cells: np.ndarray
    fixed: float
    ratios: np.ndarray
    fit: FootprintFit | None = None
    weights: tuple[np.ndarray, float] | None = None   # the cells' and fixed blocks' MB, with `fit`
    per_cell_left_out: float | None = None   # rms, each network left out (None: not weighed)
    fit_left_out: float | None = None        # the footprint fit's, where one was weighed

    @property
    def extra_ms(self) -> np.ndarray | None:
        """Each cell's cost beyond `block x cells`: its weights at the fit's per-MB cost (None without a fit)."""
        return None if self.fit is None else np.nan_to_num(self.weights[0]) * self.fit.per_mb

    @property
    def fixed_extra_ms(self) -> float:
        """The fixed blocks' cost beyond `blocks x fixed`: their weights and the fit's intercept."""
        return 0.0 if self.fit is None else self.weights[1] * self.fit.per_mb + self.fit.intercept_ms

    def line(self) -> str:
        lo, hi = float(self.ratios.min()), float(self.ratios.max())
        head = (f"context: {self.ratios.size} covering network(s), timed whole between their blocks, run "
                f"x{lo:.3f}-x{hi:.3f} the sum of their blocks; ")
        against = ("" if self.per_cell_left_out is None else
                   f"; per-cell factors, each network left out: {self.per_cell_left_out:.1%}")
        if self.fit is None:
            refused = "" if self.fit_left_out is None else f" (the footprint fit's: {self.fit_left_out:.1%})"
            return head + f"in-network factors applied per cell (fixed blocks x{self.fixed:.3f})" + against + refused
        return head + self.fit.phrase() + against


def context_weights(layout: LayerTable, ctx: NetworkContext) -> tuple[np.ndarray, float] | None:
    """`cell_mb` of the table's layout from the context's block weights; None for a context measured
    before they were kept (or one that lacks a block)."""
    return layout_weights(layout, ctx.block_mb)


def context_factors(hot: DenseTable, ctx: NetworkContext,
                    weights: tuple[np.ndarray, float] | None = None) -> ContextFactors:
    """The footprint fit where `weights` (`context_weights`) allow one (`footprint.fit_sums`), else
    the per-cell factors."""
    per_cell = per_cell_factors(hot, ctx)
    if weights is None:
        return per_cell
    net_ms, ratios = np.asarray(ctx.ms, dtype=np.float64), np.asarray(ctx.ratios, dtype=np.float64)
    fit = fit_sums(net_ms / ratios, np.asarray(ctx.archs, dtype=np.int64), net_ms, weights, hot.fixed_ms)
    per_cell = replace(per_cell, per_cell_left_out=per_cell_left_out(hot, ctx),
                       fit_left_out=None if fit is None else fit.rms_left_out)
    if fit is None or fit.rms_left_out > per_cell.per_cell_left_out:
        return per_cell
    return ContextFactors(np.full(hot.latency_ms.shape, fit.per_block), fit.per_block, per_cell.ratios, fit, weights,
                          per_cell.per_cell_left_out)


def per_cell_left_out(hot: DenseTable, ctx: NetworkContext) -> float:
    """Rms relative error of the per-cell factors on each context network left out in turn (its
    blocks as `hot` holds them, factors from the other networks): what `context_factors` weighs the
    footprint fit against."""
    archs = np.asarray(ctx.archs, dtype=np.int64)
    rows, errors = np.arange(archs.shape[1]), []
    for i, arch in enumerate(archs):
        others = replace(ctx, archs=ctx.archs[:i] + ctx.archs[i + 1:], ms=ctx.ms[:i] + ctx.ms[i + 1:],
                         ratios=ctx.ratios[:i] + ctx.ratios[i + 1:])
        factors = per_cell_factors(hot, others)
        cells = hot.latency_ms[rows, arch] * factors.cells[rows, arch]
        errors.append((hot.fixed_ms * factors.fixed + float(np.nansum(cells))) / ctx.ms[i] - 1)
    return float(np.sqrt(np.mean(np.square(errors))))


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
    """The table through the footprint fit (`footprint.with_footprint`) where the factors are one, else
    with every cell and the fixed blocks scaled by their in-network factor."""
    if factors.fit is not None:
        return with_footprint(hot, factors.fit, factors.weights)
    f = factors.cells
    return replace(hot, latency_ms=hot.latency_ms * f, var_ms2=hot.var_ms2 * f ** 2,
                   fixed_ms=hot.fixed_ms * factors.fixed, fixed_var_ms2=hot.fixed_var_ms2 * factors.fixed ** 2)
