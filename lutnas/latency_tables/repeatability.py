"""Repeatability as a figure: how far the same measurement moved between rounds, and what that supports.

A table's accuracy figure is only as good as the ground truth it is compared with. On this 2-core VM
the same network measured minutes apart moved by up to +-30%, so a "within +-5%" share computed against
it says nothing about the table. Every command that measures in rounds therefore reports the
**test-retest spread** it observed: for every item timed in several passes (rounds), the relative
difference of every pair of its passes (larger / smaller - 1), summarised by the median and the 95th
percentile (`Retest`) -- the figure the issue's goal is stated in (median |delta| <= 2%, p95 <= 5%).

The **supported band** of a run is that p95 of its ground truth (after drift correction when there is
one): a share "within +-N%" is only claimed for N at or above it (`claimable`). Everything here is
pure (no timing, no I/O), so the report builders stay pure; `table_repeatability` reads a table's
stored passes to say, at the end of `profile`, what its entries support.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from lutnas.latency_tables.stats import estimates

if TYPE_CHECKING:
    from lutnas.latency_tables.drift import SpeedTrack
    from lutnas.latency_tables.networks import NetworkMeasurement
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.profiler.measurement import Measurement
    from lutnas.profiler.stability import StabilityPolicy

CLAIMS = (0.05, 0.10)   # the shares a validation report states


@dataclass(frozen=True)
class Retest:
    """Test-retest spread over every pair of passes of the same item: max / min - 1 of the pair."""

    pairs: int
    items: int          # items with at least two passes
    median: float       # nan without pairs
    p95: float
    left_out: int = 0   # passes not counted: unstable on their own while another pass of the item was stable

    def to_dict(self) -> dict[str, float | int]:
        return {"pairs": self.pairs, "items": self.items, "median": self.median, "p95": self.p95,
                "left_out": self.left_out}

    def line(self) -> str:
        if not self.pairs and self.left_out:
            return f"no item kept two stable passes ({self.left_out} unstable pass(es) left out)"
        if not self.pairs:
            return "no item was timed twice"
        return f"median |Δ| {self.median:.1%}, p95 {self.p95:.1%} ({self.items} item(s), {self.pairs} pair(s))"


def retest(values: Sequence[Sequence[float]], left_out: int = 0) -> Retest:
    """The spread of per-pass values (one list per item; items with one pass add nothing).
    `left_out`: how many passes the values omit (said when no pair is left)."""
    deltas = [max(a, b) / min(a, b) - 1.0 for v in values for a, b in itertools.combinations(v, 2)]
    items = sum(len(v) >= 2 for v in values)
    if not deltas:
        return Retest(0, items, math.nan, math.nan, left_out)
    d = np.asarray(deltas)
    return Retest(int(d.size), items, float(np.median(d)), float(np.quantile(d, 0.95)), left_out)


def pass_values(passes: Sequence[Measurement], estimator: str) -> list[float]:
    """The estimator applied to each pass on its own; an interleaved pass (`rounds.measure_interleaved`:
    one sample per cycle) counts as its two halves, odd and even cycles, so its test-retest is that of
    the estimate from half its samples (not of one sample against another)."""
    groups = [half for p in passes for half in _halves(p)]
    return [float(v) for v in estimates([[g] for g in groups], estimator)] if groups else []


def _halves(p: Measurement) -> list[tuple[float, ...]]:
    if not p.meta.get("interleaved") or p.n < 2:
        return [p.samples_ms]
    return [p.samples_ms[0::2], p.samples_ms[1::2]]


def claimable(band: float, share: float) -> bool:
    """A "within +-share" figure is claimed only when the ground truth moved less than that (nan: no
    repeat was observed, so nothing contradicts the claim and it stands with that caveat)."""
    return math.isnan(band) or band <= share


def claims(band: float) -> dict[str, bool]:
    """Which of the report's shares (`CLAIMS`) `band` supports, keyed "within_5", "within_10"."""
    return {f"within_{round(c * 100)}": claimable(band, c) for c in CLAIMS}


def band_lines(head: str, band: float, what: str, remedy: str) -> list[str]:
    """`head` (how the ground truth repeated) with the band it supports, or what to do when it cannot
    say (`what`: what to time in 2 or more rounds), and a warning with `remedy` when it is over ±5%."""
    if math.isnan(band):
        return [head + f"; time {what} in 2 or more rounds to know what accuracy this run supports"]
    lines = [head + f"; this run supports accuracy claims down to ±{band:.1%}"]
    if not claimable(band, 0.05):
        lines.append(f"the ground truth moved ±{band:.1%} (p95, odd vs even cycles), more than ±5%: no ±5% "
                     f"share is claimed; {remedy}")
    return lines


@dataclass(frozen=True)
class ShareRange:
    """A "within +-limit" share and what a repeat of the same validation could read: an arch whose
    error lies within the run's band of the edge may land on the other side next time.

    Why: two validations of one fbnet @ 160 table, back to back, put 93.3% and then 100% within +-5%:
    two archs at +5.6% and -5.2% came back at +4.5% and -4.0%. Per arch the error moved by sd 0.86%
    between the runs (p95 |delta| ~1.7%, about the run's own band), so a share is only as firm as
    the number of archs that close to its edge (docs/measurements/strip-prefetch-2026-12-05.md)."""

    limit: float
    band: float      # the margin around the edge: the run's band
    share: float
    low: float
    high: float
    at_edge: int     # archs whose |error| lies within `band` of the limit

    def line(self) -> str:
        if self.at_edge == 0:
            return f"within ±{self.limit:.0%}: no arch within ±{self.band:.1%} of the edge, the share should repeat"
        return (f"within ±{self.limit:.0%}: {self.at_edge} arch(s) within ±{self.band:.1%} of the edge: a repeat "
                f"could read {self.low:.1%}-{self.high:.1%}")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def share_range(rel_errors: Sequence[float], limit: float, band: float) -> ShareRange | None:
    """The share of `rel_errors` within +-`limit` and its range if every arch within `band` of the
    edge landed on the other side; None without errors or without a band."""
    errors = np.abs(np.asarray(rel_errors, dtype=np.float64))
    errors = errors[np.isfinite(errors)]
    if not errors.size or not math.isfinite(band):
        return None
    inside = errors <= limit
    near = np.abs(errors - limit) <= band
    n = errors.size
    return ShareRange(limit, band, float(inside.mean()), float((inside & ~near).sum() / n),
                      float((inside | near).sum() / n), int(near.sum()))


@dataclass(frozen=True)
class GroundTruth:
    """Whole-network latencies raw and drift-corrected, with the test-retest spread of each."""

    raw_ms: np.ndarray
    corrected_ms: np.ndarray | None       # at the speed the table was profiled (None: no anchors)
    raw_passes: list[list[float]]         # per network, per kept pass
    corrected_passes: list[list[float]] | None
    raw_retest: Retest
    corrected_retest: Retest | None

    @property
    def band(self) -> float:
        """How far the ground truth moved between rounds (p95), after correction when there is one."""
        return (self.corrected_retest or self.raw_retest).p95


def ground_truth(measured: Sequence[NetworkMeasurement], track: SpeedTrack | None) -> GroundTruth:
    """Every network's latency (its estimator over its kept passes) raw and with every pass divided by
    the drift factor of its own round (`SpeedTrack.corrected`), and how much each repeated."""
    raw_passes = [pass_values(m.kept, m.estimator) for m in measured]
    left_out = sum(len(m.passes) - len(m.kept) for m in measured)
    raw = np.array([m.latency_ms for m in measured], dtype=np.float64)
    if track is None:
        return GroundTruth(raw, None, raw_passes, None, retest(raw_passes, left_out), None)
    fixed = [[track.corrected(p) for p in m.kept] for m in measured]
    corrected = np.array([float(estimates([[p.samples_ms for p in f]], m.estimator)[0])
                          for f, m in zip(fixed, measured)], dtype=np.float64)
    corrected_passes = [pass_values(f, m.estimator) for f, m in zip(fixed, measured)]
    return GroundTruth(raw, corrected, raw_passes, corrected_passes, retest(raw_passes, left_out),
                       retest(corrected_passes, left_out))


UNSTABLE_SHARE = 0.10   # more unstable entries than this and `profile` says what the table can support


@dataclass(frozen=True)
class TableRepeatability:
    """How a table's entries repeated across their passes, and what accuracy that supports."""

    entries: int            # measured entries
    unstable: int           # entries whose verdict stayed unstable
    max_passes: int
    retest: Retest          # over entries with two or more passes
    in_network: bool        # passes are different covering networks (context moves them too)

    @property
    def supported(self) -> float:
        return self.retest.p95

    def lines(self) -> list[str]:
        what = "covering networks" if self.in_network else "passes"
        out = [f"repeatability: entries across {what}: {self.retest.line()}"]
        share = self.unstable / self.entries if self.entries else 0.0
        if share <= UNSTABLE_SHARE and claimable(self.supported, 0.05):
            return out
        band = "cannot be told (no entry has two passes)" if math.isnan(self.supported) else (
            f"about ±{self.supported:.0%} per entry at best (p95 of their pass-to-pass differences)")
        out.append(f"warning: {self._what_moved()}; the accuracy this table supports is {band}, so a ±5% "
                   "claim needs a quieter machine: check `lutnas doctor`, re-profile at a quieter time (or "
                   "`--remeasure` to add passes), and `lutnas validate --rounds N` to see what whole networks get")
        return out

    def _what_moved(self) -> str:
        if self.unstable:
            return (f"{self.unstable} of {self.entries} entries stayed unstable after up to {self.max_passes} "
                    "pass(es)")
        return (f"all {self.entries} entries ended stable, but the {self.retest.items} that needed a second pass "
                "moved between passes")


def table_repeatability(table: LatencyTable, policy: StabilityPolicy | None = None) -> TableRepeatability:
    """Unstable entries and the pass-to-pass spread of a table's measured entries (every pass counts)."""
    from lutnas.profiler.stability import DEFAULT_POLICY, verdict

    policy = policy or DEFAULT_POLICY
    measured = [d for d in table.entries() if d.passes]
    unstable = sum(not verdict(d.measurements, policy).stable for d in measured)
    values = [pass_values(d.measurements, table.estimator) for d in measured if len(d.passes) >= 2]
    in_network = table.meta.options.get("measure_mode") == "in-network"
    return TableRepeatability(len(measured), unstable, policy.max_passes, retest(values), in_network)
