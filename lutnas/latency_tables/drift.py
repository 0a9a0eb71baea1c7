"""How much faster or slower the device runs now than when its table was profiled, round by round.

A shared VM's speed moves by 5-35% over minutes (other tenants, frequency, cache pressure): six
onnxruntime networks timed twice 2.5 minutes apart here all ran 21-26% slower the second time, while
each one's ratio to a network timed in the same rounds moved 1-4%. Absolute latency does not repeat
on such a machine; ratios within a round do. So validation times **anchors** -- a few of the table's
own entries, re-timed exactly the way the table timed them -- at every round boundary of the
networks' measuring loop (`profiler.rounds`: before round 1 and after every round), and corrects
every network pass by the drift of its own round: each anchor's now / then, interpolated in time
between its two timings that bracket the round (`SpeedTrack.factor`). `measure` uses the same
machinery with a fixed reference network instead of table entries (no "then": ratios only).

Anchors by table kind:
- tables with a measured network context (`network_context`: TVM channels-last tables): their
  covering networks, re-timed whole; "then" is their latency at profile time;
- tables with a profile-time network fit (tvm `lutnas-cpu`): the fit's networks, re-timed whole as
  the held-out networks are timed; "then" is their latency at the fit;
- in-network onnxruntime tables: the table's own covering networks, timed whole; "then" is the
  unprofiled latency the profile recorded with their blocks (`profiled_networks_then`).
  Whole networks are cheap to time once per boundary, so up to `DEFAULT_NETWORK_ANCHORS` of them
  anchor, picked by arch (`spread_pick`), never by "then": the slowest by "then" are the ones whose
  "then" caught a slow moment, and their now / then reads low. On the proxyless @ 128 context table
  of 2026-12-03 the four slowest covering networks ran 1.04-1.07x what the table predicts for them
  (the other ten 1.00x), and validation's correction overshot by the same -5% to -7%.
  Tables profiled before that was recorded re-profile those networks with onnxruntime's profiler
  and compare with the sum of their stored block times (`NetworkAnchors`);
- other isolated tables (tvm, onnxruntime `isolated`): the slowest entries (least sensitive to
  timer resolution and per-call overhead) but never the head, whose classifier weights make it the
  most cache-sensitive entry (in three validations here it moved -14%, +18% and +28% where the other
  anchors moved -0.5% to +8%); re-timed alone with the table's job settings (`JobAnchors`).
The median over anchors (in log space) is the factor, so one anchor that moves on its own does not
set it. Anchors are table entries, not the validation archs, so no held-out information leaks into
the correction.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lutnas.latency_tables.context import spread_pick
from lutnas.latency_tables.footprint import profiled_networks_then
from lutnas.profiler.measurement import MeasureJob, Measurement

if TYPE_CHECKING:
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import Runner

DEFAULT_ANCHORS = 4             # block entries (and re-profiled in-network covering networks)
DEFAULT_NETWORK_ANCHORS = 12    # networks timed whole: one sample each per boundary
# An in-network table's anchors need no compile, so it takes more: each anchor's "then" is one
# network's profile latency, which repeats within 1.1-1.4% (sd) between profiles, and both
# validations of a fbnet table read a correction 1.9-2.4% off with 12 of its 18 covering networks
# (docs/measurements/in-network-node-cost-2026-12-04.md). Timing 24 costs a few seconds a run.
IN_NETWORK_ANCHORS = 24


@dataclass(frozen=True)
class AnchorTime:
    """One anchor timed once: its latency, when (mid-time, wall clock), and its raw samples if one job."""

    ms: float
    at: float
    samples: tuple[float, ...] = ()


@dataclass(frozen=True)
class BoundaryTiming:
    """Every anchor (or reference) timed once at one round boundary (0: before round 1, k: after round k)."""

    boundary: int
    anchors: dict[str, AnchorTime]

    @property
    def ms(self) -> dict[str, float]:
        return {k: a.ms for k, a in self.anchors.items()}

    @property
    def at(self) -> float:
        return float(np.mean([a.at for a in self.anchors.values()]))


@dataclass(frozen=True)
class SpeedTrack:
    """The device's speed at every round boundary, relative to `then` (> 1: slower than then).

    `then`: the anchors' latency when the table was profiled (1.0 for a bare reference: factors are
    then its latency in ms and a corrected pass is a ratio to it).
    """

    then: dict[str, float]
    timings: tuple[BoundaryTiming, ...]
    method: str = ""

    def ratios(self, timing: BoundaryTiming) -> np.ndarray:
        return np.array([timing.ms[k] / self.then[k] for k in self.then if k in timing.ms])

    def boundary_factors(self) -> np.ndarray:
        """Per boundary, the median over anchors of now / then."""
        return np.array([log_median(self.ratios(t)) for t in self.timings])

    def factor(self, round_no: int, at: float) -> float:
        """The drift of round `round_no` at wall-clock time `at`: per anchor, its now / then log-linear in
        time between its two timings that bracket the round (boundaries k - 1 and k), clamped to them;
        the median over anchors. Only this round's anchor timings count."""
        by_boundary = {t.boundary: t for t in self.timings}
        bracket = [by_boundary[b] for b in (round_no - 1, round_no) if b in by_boundary]
        if not bracket:
            raise ValueError(f"no anchor timing brackets round {round_no}")
        first, last = bracket[0], bracket[-1]
        keys = [k for k in self.then if k in first.anchors and k in last.anchors]
        return log_median([_log_linear(first.anchors[k], last.anchors[k], self.then[k], at) for k in keys])

    def pass_factor(self, m: Measurement) -> float:
        """The drift a pass of the rounds loop saw (its round from meta["round"], its mid-time)."""
        return self.factor(int(m.meta["round"]), 0.5 * (m.started_at + m.ended_at))

    def sample_factors(self, m: Measurement) -> list[float]:
        """The drift each sample saw: its own cycle's for an interleaved pass (`rounds.measure_interleaved`
        keeps every sample's cycle and time), the pass's round's otherwise."""
        if "sample_rounds" in m.meta:
            return [self.factor(int(r), float(t)) for r, t in zip(m.meta["sample_rounds"], m.meta["sample_at"])]
        return [self.pass_factor(m)] * m.n

    def corrected(self, m: Measurement) -> Measurement:
        """The pass at the speed of `then`: every sample divided by the drift factor it saw."""
        factors = self.sample_factors(m)
        return replace(m, samples_ms=tuple(s / f for s, f in zip(m.samples_ms, factors)),
                       meta={**m.meta, "drift_factor": log_median(np.asarray(factors))})

    @property
    def overall(self) -> float:
        """Median over boundaries of the factors: the device's speed during the run vs then."""
        return log_median(self.boundary_factors())

    @property
    def spread(self) -> float:
        """Max / min of the boundary factors: how much the correction moved during the run."""
        f = self.boundary_factors()
        return float(f.max() / f.min())

    @property
    def disagreement(self) -> float:
        """Median over boundaries of the anchors' max / min ratio (large: a uniform factor is doubtful)."""
        return float(np.median([r.max() / r.min() for r in map(self.ratios, self.timings)]))

    def to_dict(self) -> dict[str, Any]:
        factors = self.boundary_factors()
        return {"method": self.method, "factor": self.overall, "spread": self.spread,
                "disagreement": self.disagreement, "during": float(factors[-1] / factors[0]),
                "then": dict(self.then),
                "boundaries": [{"boundary": t.boundary, "at": t.at, "factor": float(f), "ms": t.ms,
                                "at_by_anchor": {k: a.at for k, a in t.anchors.items()},
                                "samples_ms": {k: list(a.samples) for k, a in t.anchors.items() if a.samples}}
                               for t, f in zip(self.timings, factors)]}

    def line(self) -> str:
        return (f"device speed vs profiling: x{self.overall:.3f} ({len(self.then)} anchor(s), {self.method}; "
                f"timed at {len(self.timings)} round boundaries: correction spread x{self.spread:.3f}, "
                f"anchors disagree x{self.disagreement:.3f})")


def log_median(ratios: Sequence[float] | np.ndarray) -> float:
    """The median of ratios taken in log space: with an even count, the geometric (not arithmetic) mean
    of the middle two, so x2 and x0.5 average to x1 and one anchor's hiccup moves it no more."""
    return float(np.exp(np.median(np.log(np.asarray(ratios, dtype=np.float64)))))


def _log_linear(a: AnchorTime, b: AnchorTime, then: float, at: float) -> float:
    """now / then of one anchor at time `at`, log-linear between its timings a and b, clamped to them."""
    w = 0.5 if b.at <= a.at else min(1.0, max(0.0, (at - a.at) / (b.at - a.at)))
    return math.exp((1 - w) * math.log(a.ms / then) + w * math.log(b.ms / then))


class AnchorSet(Protocol):
    """Things timed at every round boundary, with their latency when the table was profiled."""

    method: str
    then: dict[str, float]

    def time(self) -> dict[str, AnchorTime]: ...


class BoundaryTimer:
    """`RoundHooks.at_boundary` for the rounds loop: times the anchor set, keeps every timing."""

    def __init__(self, anchors: AnchorSet) -> None:
        self.anchors = anchors
        self.timings: list[BoundaryTiming] = []

    def __call__(self, boundary: int) -> None:
        self.timings.append(BoundaryTiming(boundary, self.anchors.time()))

    def track(self) -> SpeedTrack | None:
        if not self.timings or not self.anchors.then:
            return None
        return SpeedTrack(dict(self.anchors.then), tuple(self.timings), self.anchors.method)


# -- anchors of isolated tables ----------------------------------------------------------------------
def anchor_entries(table: LatencyTable, count: int = DEFAULT_ANCHORS) -> dict[str, float]:
    """Key -> the table's estimate, for the `count` slowest measured block entries but the head, of an
    isolated table (none for in-network tables: `anchor_networks`)."""
    if table.meta.options.get("measure_mode", "isolated") != "isolated" or count <= 0:
        return {}
    from lutnas.latency_tables.stats import estimates

    measured = [d for d in table.entries() if d.passes and d.entry.role not in ("overhead", "head")]
    values = estimates([[p.measurement.samples_ms for p in d.kept] for d in measured], table.estimator)
    ranked = sorted(zip((d.entry.key for d in measured), map(float, values)), key=lambda kv: -kv[1])
    return dict(ranked[:count])


@dataclass
class JobAnchors:
    """Anchors that are jobs timed by the run's own runner: an isolated table's entries re-timed alone
    (validate), or a fixed reference network with `then` = 1 ms, whose factor is its latency (measure)."""

    then: dict[str, float]
    jobs: dict[str, MeasureJob]
    measure: Callable[[MeasureJob], Measurement]
    estimator: str
    method: str = "isolated block entries"

    def time(self) -> dict[str, AnchorTime]:
        from lutnas.latency_tables.stats import estimates

        passes = {k: self.measure(job) for k, job in self.jobs.items()}
        values = estimates([[m.samples_ms] for m in passes.values()], self.estimator)
        return {k: AnchorTime(float(v), 0.5 * (m.started_at + m.ended_at), m.samples_ms)
                for (k, m), v in zip(passes.items(), values)}


# -- anchors of in-network tables --------------------------------------------------------------------
def anchor_networks(table: LatencyTable, count: int = DEFAULT_ANCHORS) -> dict[str, float]:
    """Covering-network key -> its latency at profiling time (the sum of its blocks' stored times),
    for the `count` slowest covering networks of an in-network table (none for isolated tables)."""
    if table.meta.options.get("measure_mode") != "in-network" or count <= 0:
        return {}
    from lutnas.latency_tables.stats import estimates

    by_place: dict[str, dict[int, list[tuple[float, ...]]]] = defaultdict(lambda: defaultdict(list))
    for d in table.entries():
        for p in d.passes:   # every block of the network counts; a re-profiled network's passes are pooled
            meta = p.measurement.meta
            if meta.get("network"):
                by_place[meta["network"]][int(meta.get("position", 0))].append(p.measurement.samples_ms)
    keys = list(by_place)
    sums = [float(estimates(list(by_place[k].values()), table.estimator).sum()) for k in keys]
    return dict(sorted(zip(keys, sums), key=lambda kv: -kv[1])[:count])


@dataclass
class NetworkAnchors:
    """Anchors of an in-network table profiled before its networks' latencies were recorded:
    covering networks re-profiled as `profile` profiled them."""

    then: dict[str, float]
    archs: dict[str, tuple[int, ...]]
    onnx: dict[str, Path]
    block_keys: dict[str, list[str]]
    settings: dict[str, Any]          # threads, repeats, min_repeat_ms, warmup, work_dir
    estimator: str
    method: str = "in-network covering networks"

    def time(self) -> dict[str, AnchorTime]:
        from lutnas.latency_tables.context import profile_network
        from lutnas.latency_tables.stats import estimates

        out = {}
        for key in self.then:
            prof = profile_network(self.onnx[key], self.archs[key], self.block_keys[key], **self.settings,
                                   node_cost_ms=0.0)   # its blocks sum to its latency whatever the cost
            blocks = [[prof.block_samples_ms(i)] for i in range(len(self.block_keys[key]))]
            out[key] = AnchorTime(float(estimates(blocks, self.estimator).sum()), 0.5 * (prof.started_at + time.time()))
        return out


def network_anchors(table: LatencyTable, count: int, work_dir: Path, threads: int) -> NetworkAnchors | None:
    """The `count` slowest covering networks of an in-network table, exported as `profile` exported them."""
    from lutnas.latency_tables.context import covering_archs, profiled_archs
    from lutnas.latency_tables.footprint import cell_mb, stored_block_mb
    from lutnas.latency_tables.jobs import export_networks, network_key
    from lutnas.spaces import get_space

    then = anchor_networks(table, count)
    if not then:
        return None
    meta, opts = table.meta, table.meta.options
    space = get_space(meta.space)
    wm, nc = float(opts.get("width_mult", 1.0)), int(opts.get("num_classes", 1000))
    extra = dict(opts.get("extra", {}))
    rounds, seed = int(extra.get("rounds", 2)), int(extra.get("cover_seed", 0))
    block_mb = stored_block_mb(table)
    profiled = (profiled_archs(space, cell_mb(table.layout(), block_mb)[0], rounds, seed) if block_mb
                else covering_archs(space, rounds, seed))
    archs = {network_key(space.name, a, meta.resolution, wm, nc): a for a in profiled}
    then = {k: v for k, v in then.items() if k in archs}
    if not then:
        return None
    paths = export_networks(space, [archs[k] for k in then], meta.resolution, work_dir / space.name,
                            width_mult=wm, num_classes=nc)
    blocks = {k: [b.key for b in space.blocks(archs[k], meta.resolution, width_mult=wm, num_classes=nc)]
              for k in then}
    settings = {"threads": threads, "repeats": int(opts.get("repeats", 10)),
                "min_repeat_ms": float(opts.get("min_repeat_ms", 20.0)), "warmup": int(opts.get("warmup", 3)),
                "work_dir": work_dir}
    return NetworkAnchors(then, {k: archs[k] for k in then}, dict(zip(then, paths)), blocks, settings,
                          table.estimator)


def fit_network_anchors(table: LatencyTable, count: int, *, runner: Runner, threads: int,
                        tuning_db: Path | None = None, progress: bool = False) -> JobAnchors | None:
    """Up to `count` of the networks a table's profile-time fit measured (`network_fit`), re-timed whole,
    with their latency then (None for a table without such a fit).

    Block entries timed alone keep their weights in L2, networks stream them from L3 and memory, so
    a neighbour on the shared L3 slows networks more than the blocks: here the block anchors of one
    table read x1.02-1.08 between two validations whose networks moved 10% the other way. Networks
    timed as the held-out networks are timed see what they see."""
    from lutnas.latency_tables.network_fit import fit_networks_then

    return whole_network_anchors(table, fit_networks_then(table), count, runner=runner, threads=threads,
                                 tuning_db=tuning_db, progress=progress, method="the profile's fit networks")


def whole_network_anchors(table: LatencyTable, then_by_arch: dict[tuple[int, ...], float], count: int, *,
                          runner: Runner, threads: int, tuning_db: Path | None = None, progress: bool = False,
                          method: str) -> JobAnchors | None:
    """Up to `count` of `then_by_arch`'s networks (`spread_pick`) as anchors timed whole, one sample
    per boundary, as the held-out networks are timed (None when there are none)."""
    from lutnas.latency_tables.networks import table_network_jobs
    from lutnas.profiler.rounds import one_sample

    if not then_by_arch or count <= 0:
        return None
    archs = spread_pick(list(then_by_arch), count)
    jobs = table_network_jobs(table, archs, threads=threads, tuning_db=tuning_db, progress=progress)
    return JobAnchors({j.key: then_by_arch[a] for a, j in zip(archs, jobs)}, {j.key: j for j in jobs},
                      one_sample(runner), table.estimator, method)


def anchors_for(table: LatencyTable, count: int | None, *, runner: Runner, target: TargetSpec, threads: int,
                work_dir: Path, tuning_db: Path | None = None, progress: bool = False) -> AnchorSet | None:
    """The anchor set of any table (None when `count` is 0 or the table has nothing to anchor on);
    `count` None: `DEFAULT_NETWORK_ANCHORS` networks timed whole (`IN_NETWORK_ANCHORS` for an
    in-network table), else `DEFAULT_ANCHORS`."""
    in_network = table.meta.options.get("measure_mode") == "in-network"
    networks = (IN_NETWORK_ANCHORS if in_network else DEFAULT_NETWORK_ANCHORS) if count is None else count
    entries = DEFAULT_ANCHORS if count is None else count
    if in_network:
        whole = whole_network_anchors(table, profiled_networks_then(table), networks, runner=runner, threads=threads,
                                      progress=progress, method="in-network covering networks, timed whole")
        return whole if whole is not None else network_anchors(table, entries, work_dir, threads)
    from lutnas.latency_tables.network_context import stored_context

    ctx = stored_context(table)
    if ctx is not None:
        covering = whole_network_anchors(table, ctx.then_by_arch(), networks, runner=runner, threads=threads,
                                         tuning_db=tuning_db, progress=progress,
                                         method="the profile's covering networks, timed whole")
        if covering is not None:
            return covering
    fitted = fit_network_anchors(table, networks, runner=runner, threads=threads, tuning_db=tuning_db,
                                 progress=progress)
    if fitted is not None:
        return fitted
    then = anchor_entries(table, entries)
    if not then:
        return None
    from lutnas.latency_tables.jobs import table_block_jobs
    from lutnas.profiler.rounds import one_sample

    jobs = table_block_jobs(table, list(then), target, threads, work_dir, tuning_db, progress)
    return JobAnchors(then, jobs, one_sample(runner), table.estimator)
