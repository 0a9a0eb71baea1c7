"""A network's weights in its latency table: the footprint networks and the footprint fit.

A block timed alone (a TVM table's) or inside heavy covering networks (an onnxruntime in-network
table's) finds its weights where that timing left them. A network finds them where the rest of it
left room, which depends on all of its weights: on proxyless at 64 px (AMD EPYC VM) networks of 10-12
MB of weights ran x1.25-1.41 the sum of their blocks, networks of 14-18 MB x1.51-1.86, and tables that
averaged over covering networks of 12.5-17 MB over-predicted a search's light networks by 6-27%
(`docs/measurements/footprint-context-2026-12-07.md`). So tables time `FOOTPRINT_ARCHS` networks from
the space's lightest arch to its heaviest beside their covering networks, and fit over all of them
`network = per_block x (its entries' sum) + per_mb x (its weights, MB) + intercept`. The table stays
additive: a cell costs `per_block x entry + per_mb x its weights`, the fixed blocks take their weights
and the intercept, so `predict`, its numba kernels and both searches are unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from lutnas.errors import ArchError

if TYPE_CHECKING:
    from lutnas.latency_tables.covering import CoveringFit
    from lutnas.latency_tables.dense import DenseTable
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.spaces import SearchSpace
    from lutnas.spaces.base import LayerTable
    from lutnas.spaces.blocks import Block

FOOTPRINT_ARCHS = 4   # extra networks, the space's lightest to its heaviest in weight bytes
# The footprint fit needs this many networks whose weights spread by this factor (heaviest / lightest);
# short of either, or with a fit that is not physical (a negative slope or fixed cost), a table keeps
# its former model (per-cell factors, or in-network entries as they are).
FOOTPRINT_MIN_NETWORKS = 6
FOOTPRINT_MIN_SPREAD = 1.15
ATTACHMENT = "footprint"   # an onnxruntime in-network table's block weights ({"block_mb": {key: MB}})


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


def layout_weights(layout: LayerTable, block_mb: dict[str, float]) -> tuple[np.ndarray, float] | None:
    """`cell_mb` of `layout`, or None where `block_mb` lacks one of its blocks (weights kept before
    12-07, or none at all)."""
    if not all(key in block_mb for key in layout.unique_blocks()):
        return None
    return cell_mb(layout, block_mb)


def stored_block_mb(table: LatencyTable) -> dict[str, float]:
    """An in-network table's block weights as its profile kept them (`ATTACHMENT`); empty if none."""
    return (table.store.attachment(table.id, ATTACHMENT) or {}).get("block_mb", {})


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
class FootprintCheck:
    """An in-network table's footprint fit and the cells' weights, with the rms error of its networks,
    each left out in turn, by the entries alone and through the fit: the fit is used where it is lower."""

    fit: FootprintFit
    weights: tuple[np.ndarray, float]
    entries_left_out: float
    fit_left_out: float
    covering: CoveringFit | None = None   # the covering networks as the table then predicts them

    @property
    def used(self) -> bool:
        return bool(self.fit_left_out <= self.entries_left_out)

    def line(self) -> str:
        verdict = "used" if self.used else "not used"
        return (f"footprint: {self.fit.phrase()}; networks left out in turn: entries {self.entries_left_out:.1%}, "
                f"through the fit {self.fit_left_out:.1%}: the fit is {verdict}")


def with_footprint(table: DenseTable, fit: FootprintFit, weights: tuple[np.ndarray, float]) -> DenseTable:
    """`table` (entries as measured) as the footprint fit predicts: every cell `per_block x entry +
    per_mb x its weights`, the fixed blocks with their weights and the intercept."""
    cells_mb, fixed_mb = weights
    return replace(table, latency_ms=table.latency_ms * fit.per_block + np.nan_to_num(cells_mb) * fit.per_mb,
                   var_ms2=table.var_ms2 * fit.per_block ** 2,
                   fixed_ms=table.fixed_ms * fit.per_block + fixed_mb * fit.per_mb + fit.intercept_ms,
                   fixed_var_ms2=table.fixed_var_ms2 * fit.per_block ** 2)


def fit_networks(table: DenseTable, then_by_arch: dict[tuple[int, ...], float],
                 weights: tuple[np.ndarray, float]) -> FootprintFit | None:
    """The footprint fit of the networks `then_by_arch` (arch -> latency, ms) against `table`'s sums
    of their entries (`fit_sums`)."""
    if len(then_by_arch) < FOOTPRINT_MIN_NETWORKS:
        return None
    archs = np.asarray(list(then_by_arch), dtype=np.int64)
    return fit_sums(table.predict_latency(archs), archs, np.asarray(list(then_by_arch.values())), weights,
                    table.fixed_ms)


def fit_sums(sums: np.ndarray, archs: np.ndarray, net_ms: np.ndarray, weights: tuple[np.ndarray, float],
             fixed_ms: float) -> FootprintFit | None:
    """`fit_footprint` of networks (`archs`, their entries' `sums`, their latencies) with their weights
    from `weights` (`cell_mb`); None also where the fixed blocks (`fixed_ms` as measured) would cost
    less than nothing."""
    cells_mb, fixed_mb = weights
    mb = cells_mb[np.arange(archs.shape[1]), archs].sum(axis=1) + fixed_mb
    fit = fit_footprint(sums, mb, net_ms)
    if fit is None or fixed_ms * fit.per_block + fixed_mb * fit.per_mb + fit.intercept_ms < 0:
        return None
    return fit


def profiled_networks_then(table: LatencyTable) -> dict[tuple[int, ...], float]:
    """Arch -> unprofiled latency (ms) of each covering network an in-network table's profile timed
    (median over its profiles when re-profiled); empty for tables profiled before it was recorded."""
    by_arch: dict[tuple[int, ...], set[tuple[float, float]]] = defaultdict(set)
    for d in table.entries():
        for p in d.passes:
            meta = p.measurement.meta
            if "network_ms" in meta and "arch" in meta:   # one value per profile of a network
                by_arch[tuple(int(c) for c in meta["arch"])].add((p.measurement.started_at, float(meta["network_ms"])))
    return {a: float(np.median([ms for _, ms in v])) for a, v in by_arch.items()}
