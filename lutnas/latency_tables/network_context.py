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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.errors import LutnasError
from lutnas.profiler.rounds import INTERLEAVED_CYCLES

if TYPE_CHECKING:
    from lutnas.latency_tables.dense import DenseTable
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.profiler.runners import Runner

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

    def to_dict(self) -> dict[str, Any]:
        return {"method": "covering networks interleaved with the blocks", "archs": [list(a) for a in self.archs],
                "ms": list(self.ms), "ratios": list(self.ratios), "block_ms": dict(self.block_ms),
                "measured_at": self.measured_at}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> NetworkContext:
        return cls(tuple(tuple(int(c) for c in a) for a in doc["archs"]), tuple(float(v) for v in doc["ms"]),
                   tuple(float(v) for v in doc["ratios"]), {k: float(v) for k, v in doc["block_ms"].items()},
                   float(doc.get("measured_at", 0.0)))

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
    archs = [tuple(int(c) for c in a) for a in covering_archs(space, COVER_ROUNDS, COVER_SEED)]
    wm, nc = float(opts.get("width_mult", 1.0)), int(opts.get("num_classes", 1000))
    keys = list(space.layer_table(meta.resolution, width_mult=wm, num_classes=nc).unique_blocks())
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
    ctx = NetworkContext(tuple(archs), tuple(net_ms), tuple(m / s for m, s in zip(net_ms, sums)), block_ms, time.time())
    with Store(table.path, create=True) as store:
        store.set_attachment(table.id, ATTACHMENT, ctx.to_dict())
    return ctx


@dataclass(frozen=True)
class ContextFactors:
    """Per-cell in-network factors ([layers, choices]; the fixed blocks' factor, the mean over all
    covering networks, where none holds the cell), with each covering network's ratio."""

    cells: np.ndarray
    fixed: float
    ratios: np.ndarray

    def line(self) -> str:
        lo, hi = float(self.ratios.min()), float(self.ratios.max())
        return (f"context: {self.ratios.size} covering network(s), timed whole between their blocks, run "
                f"x{lo:.3f}-x{hi:.3f} the sum of their blocks; in-network factors applied per cell "
                f"(fixed blocks x{self.fixed:.3f})")


def context_factors(hot: DenseTable, ctx: NetworkContext) -> ContextFactors:
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
    """The table with every cell and the fixed blocks scaled by their in-network factor."""
    f = factors.cells
    return replace(hot, latency_ms=hot.latency_ms * f, var_ms2=hot.var_ms2 * f ** 2,
                   fixed_ms=hot.fixed_ms * factors.fixed, fixed_var_ms2=hot.fixed_var_ms2 * factors.fixed ** 2)
