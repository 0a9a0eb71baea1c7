"""What an in-network table's own covering networks say about its accuracy, at the end of `profile`.

An in-network table (onnxruntime's profiler on covering networks, `context`) holds each block's
time averaged over the networks it ran in, and every network's latency beside its passes. So the
table can be scored against the networks it was built from, with no further timing:

- in sample: each covering network predicted by the table, against its own profiled latency;
- leave one network out: each covering network predicted from entries recomputed without its
  passes, which is how the table meets a network it never saw (a network that alone holds an entry
  is left out of this figure).

Why: on fbnet @ 128 px the round-corrected validation error of the covering networks, re-measured
later, correlated 0.85 with their in-sample error (sd 2.3%): what is left of a validation's error
is mostly the table's own (its blocks' context averaged away), which is there to see when the
profile ends. On 36 tables of this VM the validations' error sd was about the in-sample one
(median +0.1 points, -1.3 to +1.5) and 1.3x smaller than left out (0.7-2.1x): the first reads
optimistic or pessimistic by a point, the second pessimistic (docs/measurements/covering-fit-2026-12-04.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lutnas.latency_tables.footprint import FootprintFit, fit_footprint
from lutnas.latency_tables.stats import estimates

if TYPE_CHECKING:
    from lutnas.latency_tables.footprint import FootprintCheck
    from lutnas.latency_tables.table import EntryData, LatencyTable
    from lutnas.profiler.measurement import Measurement


@dataclass(frozen=True)
class ErrorSummary:
    """Relative errors (prediction / latency - 1) of a set of networks."""

    networks: int
    bias: float
    sd: float
    p95: float           # of |error|
    within_5: float
    within_10: float

    @classmethod
    def of(cls, errors: np.ndarray) -> ErrorSummary:
        e = errors[np.isfinite(errors)]
        if e.size == 0:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(int(e.size), float(e.mean()), float(e.std()), float(np.percentile(np.abs(e), 95)),
                   float(np.mean(np.abs(e) <= 0.05)), float(np.mean(np.abs(e) <= 0.10)))

    @property
    def rms(self) -> float:
        """Root mean square of the errors (NaN for none)."""
        return math.hypot(self.bias, self.sd)

    def phrase(self) -> str:
        return (f"bias {self.bias:+.1%}, sd {self.sd:.1%}, p95 |error| {self.p95:.1%}, "
                f"within ±5% {self.within_5:.0%}, within ±10% {self.within_10:.0%}")


@dataclass(frozen=True)
class CoveringFit:
    """Per covering network: its profiled latency and the two predictions of it."""

    networks: tuple[str, ...]
    latency_ms: np.ndarray
    in_sample_ms: np.ndarray
    held_out_ms: np.ndarray     # NaN where the network alone holds one of its entries

    @property
    def in_sample(self) -> ErrorSummary:
        return ErrorSummary.of(self.in_sample_ms / self.latency_ms - 1.0)

    @property
    def held_out(self) -> ErrorSummary:
        return ErrorSummary.of(self.held_out_ms / self.latency_ms - 1.0)

    def line(self) -> str:
        held = self.held_out
        head = f"covering networks as a check of the table: in sample, error sd {self.in_sample.sd:.1%}"
        if held.networks == 0:
            return head + " (none can be left out: every one alone holds an entry); `lutnas validate` measures unseen ones"
        return (f"{head}; each left out in turn ({held.networks} of {len(self.networks)}): {held.phrase()} "
                "(pessimistic: each entry then averages one network fewer); `lutnas validate` measures unseen ones")

    def warning(self) -> str | None:
        """What to do when fewer than 90% of the networks left out land within ±5%; None otherwise.
        For an in-network table this replaces the per-entry warning: its entries' passes are
        different networks, so they differ by context as much as by the machine's noise."""
        held = self.held_out if self.held_out.networks else self.in_sample
        if not held.within_5 < 0.90:
            return None
        return (f"warning: left out in turn, {held.within_5:.0%} of the covering networks land within ±5% (p95 "
                f"|error| {held.p95:.1%}): a ±5% share on unseen networks is at or past its edge; check it with "
                "`lutnas validate`, and `lutnas doctor` before re-profiling at a quieter time")

    def to_dict(self) -> dict[str, object]:
        return {"networks": len(self.networks), "in_sample": vars(self.in_sample),
                "held_out": vars(self.held_out)}


def covering_fit(table: LatencyTable) -> CoveringFit | None:
    """The covering networks of an in-network table scored in sample and left out in turn, as the
    table predicts them (with its footprint fit where it has one); None for any other table (blocks
    timed alone: no covering network holds them)."""
    if table.meta.options.get("measure_mode") != "in-network":
        return None
    return covering_of(table, table.footprint_check(table.dense(context=False)))


def covering_of(table: LatencyTable, check: FootprintCheck | None) -> CoveringFit | None:
    """`covering_fit` of an in-network table whose footprint check (`LatencyTable.footprint_check`)
    the caller holds: the check's own scoring where there is one, which it already computed."""
    if check is not None:
        return check.covering
    return fit_from_entries([d for d in table.entries() if d.passes], table.estimator)


def fit_from_entries(measured: list[EntryData], estimator: str,
                     footprint: tuple[FootprintFit, dict[str, float]] | None = None) -> CoveringFit | None:
    """`covering_fit` on entries and their passes (each pass naming its network and that network's
    latency in its meta, as `context` records them), every entry estimated as the table estimates it.
    With `footprint` (the table's fit, each block's weights in MB) the sums go through the fit; a
    network left out also leaves the fit (refitted on the others)."""
    uses = _network_uses(measured)
    if not uses:
        return None
    by_key = {d.entry.key: d for d in measured}
    names = tuple(sorted(uses))
    latency = np.array([uses[n][0] for n in names])
    every = _estimates(by_key, by_key, estimator) or {}   # in sample: every entry from all its passes, once
    in_sample = np.array([sum(every[k] for k in uses[n][1]) for n in names])
    held_out = np.array([_left_out_ms(by_key, uses[n][1], estimator, n) for n in names])
    if footprint is not None:
        fit, block_mb = footprint
        weights = np.array([sum(block_mb[k] for k in uses[n][1]) for n in names])
        held_out = _held_out_through_fits(fit, in_sample, weights, latency, held_out)
        in_sample = fit.per_block * in_sample + fit.per_mb * weights + fit.intercept_ms
    return CoveringFit(names, latency, in_sample, held_out)


def footprint_fits(measured: list[EntryData], estimator: str, fit: FootprintFit,
                   block_mb: dict[str, float]) -> tuple[CoveringFit, CoveringFit] | None:
    """The covering networks scored by their entries' sums and through the footprint fit
    (`fit_from_entries`): their errors left out in turn are the test an in-network table's fit must
    pass to be used (where its networks show no footprint effect the fit only adds noise)."""
    plain = fit_from_entries(measured, estimator)
    through = fit_from_entries(measured, estimator, (fit, block_mb))
    return None if plain is None or through is None else (plain, through)


def _held_out_through_fits(fit: FootprintFit, sums: np.ndarray, weights: np.ndarray, latency: np.ndarray,
                           held_out_sums: np.ndarray) -> np.ndarray:
    """Each network's left-out sum through the footprint fit of the other networks (the table's `fit`
    where they allow none)."""
    out = np.empty_like(held_out_sums)
    for i in range(len(sums)):
        others = fit_footprint(np.delete(sums, i), np.delete(weights, i), np.delete(latency, i)) or fit
        out[i] = others.per_block * held_out_sums[i] + others.per_mb * weights[i] + others.intercept_ms
    return out


def _network_uses(measured: list[EntryData]) -> dict[str, tuple[float, list[str]]]:
    """network key -> (its profiled latency, the entry key of each of its blocks)."""
    uses: dict[str, tuple[float, list[str]]] = {}
    for d in measured:
        for p in d.passes:
            meta = p.measurement.meta
            if "network" in meta and "network_ms" in meta:
                uses.setdefault(meta["network"], (float(meta["network_ms"]), []))[1].append(d.entry.key)
    return uses


def _left_out_ms(by_key: dict[str, EntryData], keys: list[str], estimator: str, network: str) -> float:
    """Network `network`'s prediction from its entries' passes of the other networks; NaN when one of
    its entries has no other network."""
    value = _estimates(by_key, keys, estimator, leave_out=network)
    return math.nan if value is None else float(sum(value[k] for k in keys))


def _estimates(by_key: dict[str, EntryData], keys: Iterable[str], estimator: str,
               leave_out: str = "") -> dict[str, float] | None:
    """Entry key -> its estimate from the passes the table keeps (calm ones, else all), without those
    of network `leave_out`; None when that leaves an entry with none."""
    passes: dict[str, list[Measurement]] = {}
    for key in set(keys):
        d = by_key[key]
        kept = [p.measurement for p in d.kept if p.measurement.meta.get("network") != leave_out]
        passes[key] = kept or [p.measurement for p in d.passes if p.measurement.meta.get("network") != leave_out]
        if not passes[key]:
            return None
    order = sorted(passes)
    return dict(zip(order, estimates([[m.samples_ms for m in passes[k]] for k in order], estimator).tolist()))
