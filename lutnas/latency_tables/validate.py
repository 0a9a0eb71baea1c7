"""Prove a latency table's accuracy: predict whole networks, measure them, compare (nn-Meter style).

nn-Meter (Zhang et al., MobiSys 2021) reports the share of networks predicted within +/-10% of
their measured latency; lutnas reports that and more, on archs that were never used to build or
calibrate the table: `within_5` / `within_10` (fractions), MAPE, RMSPE, bias (mean signed relative
error: negative = the table under-predicts) and Spearman's rank correlation (what a search needs:
the table must order archs right). The networks are measured with the table's own space,
resolution, target, runtime, threads and pipeline, by a runner whose device fingerprint must match
the table's (`--allow-mismatch` overrides, and the report records it).

Outputs: `report.json` (headline numbers + one row per arch) and `scatter.png` (predicted vs
measured, the y = x line and the +/-10% band). With `calibrate=True` a linear calibration is fitted
on a seeded subset and every number is scored on the held-out rest only, raw and calibrated.

Measurements that hold on a noisy machine: the networks are timed interleaved (`profiler.rounds.
measure_interleaved`: `rounds` cycles of one sample of every network), and the table's anchors
(`drift.py`: entries re-timed the way the table timed them, for every kind of table) are timed at
every cycle boundary. Each sample is corrected by the drift of its own cycle, so the report gives the
raw accuracy, the round-corrected accuracy (ground truth at the speed the table was profiled at), the
spread of the correction, and how far the ground truth itself moved between the odd and the even
cycles (`repeatability.py`). A "within +-N%" share is not claimed when the ground truth moved more
than N% (p95 of those differences): the line says what the run supports and what to do instead
(`lutnas doctor`, more rounds, a quieter time).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.latency_tables.calibration import Calibration, fit_calibration, split_fit_score, store_with_table
from lutnas.latency_tables.covering import CoveringFit, covering_fit
from lutnas.latency_tables.drift import SpeedTrack
from lutnas.latency_tables.networks import DEFAULT_ROUNDS
from lutnas.latency_tables.repeatability import (
    GroundTruth,
    Retest,
    ShareRange,
    band_lines,
    claimable,
    claims,
    ground_truth,
    share_range,
)

if TYPE_CHECKING:
    from lutnas.latency_tables.networks import NetworkMeasurement
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import Runner
    from lutnas.profiler.stability import StabilityPolicy
    from lutnas.spaces import Arch, SearchSpace

REPORT_FORMAT = 2


@dataclass(frozen=True)
class Accuracy:
    n: int
    within_5: float     # fraction of archs with |rel_error| <= 5%
    within_10: float
    mape: float         # mean |rel_error| (fraction)
    rmspe: float        # sqrt(mean rel_error^2)
    bias: float         # mean rel_error (signed)
    spearman: float     # rank correlation of predicted vs measured (nan for < 2 archs)

    def line(self, band: float = math.nan) -> str:
        """One line; a share within +-N% is shown only when the ground truth moved less than N% (`band`)."""
        def share(value: float, limit: float) -> str:
            return f"{value:.1%}" if claimable(band, limit) else f"n/a (ground truth moved ±{band:.1%})"

        return (f"{self.n} archs, within ±10%: {share(self.within_10, 0.10)}, within ±5%: "
                f"{share(self.within_5, 0.05)}, MAPE {self.mape:.1%}, bias {self.bias:+.1%}, "
                f"spearman {self.spearman:.2f}")


def accuracy(predicted: Any, measured: Any) -> Accuracy:
    """Headline statistics of predicted vs measured latencies (same units, one entry per arch)."""
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    rel = (p - m) / m
    err = np.abs(rel)
    return Accuracy(
        n=int(p.size),
        within_5=float(np.mean(err <= 0.05)) if p.size else math.nan,
        within_10=float(np.mean(err <= 0.10)) if p.size else math.nan,
        mape=float(np.mean(err)) if p.size else math.nan,
        rmspe=float(np.sqrt(np.mean(rel**2))) if p.size else math.nan,
        bias=float(np.mean(rel)) if p.size else math.nan,
        spearman=spearman(p, m),
    )


def spearman(x: Any, y: Any) -> float:
    """Spearman's rho: Pearson correlation of the (tie-averaged) ranks."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float(np.sum(rx**2) * np.sum(ry**2)))
    return float(np.sum(rx * ry) / denom) if denom > 0 else math.nan


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(v.size)
    ranks[order] = np.arange(v.size, dtype=np.float64)
    for value in np.unique(v[np.diff(np.sort(v), prepend=np.nan) == 0]):  # tied values: average rank
        tied = v == value
        ranks[tied] = ranks[tied].mean()
    return ranks


@dataclass(frozen=True)
class ArchRow:
    arch: list[int]
    predicted: float    # ms, the table's point prediction
    low: float
    high: float
    measured: float     # ms, whole network
    rel_error: float    # (predicted - measured) / measured
    unstable: bool      # whole-network measurement stayed unstable after every pass
    role: str = "score"   # "score" | "fit" (used to fit the calibration; never scored)
    calibrated: float | None = None
    corrected: float | None = None         # ms, measured with every pass divided by its round's drift
    corrected_rel_error: float | None = None
    passes_ms: list[float] = field(default_factory=list)   # raw, one value per kept pass (round)


@dataclass
class ValidationReport:
    table_id: str
    space: str
    resolution: int
    target: str
    runtime: str
    threads: int
    accuracy: Accuracy                     # on the scored archs, raw table
    rows: list[ArchRow]
    allow_mismatch: bool = False
    mismatched: list[str] = field(default_factory=list)
    calibration: Calibration | None = None
    calibration_source: str = ""           # "fitted here" | "stored" (fitted by profile or an earlier validate)
    calibrated_accuracy: Accuracy | None = None
    drift: SpeedTrack | None = None                    # the anchors at every round boundary
    corrected_accuracy: Accuracy | None = None         # on the scored archs, round-corrected ground truth
    retest: Retest | None = None                       # how the raw ground truth moved between rounds
    corrected_retest: Retest | None = None             # ... and after the correction
    covering: CoveringFit | None = None                # in-network tables: the profile's own estimate
    options: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def band(self) -> float:
        """The accuracy band this run supports: p95 of the (corrected) ground truth's round-to-round moves."""
        chosen = self.corrected_retest or self.retest
        return chosen.p95 if chosen is not None else math.nan

    def line(self) -> str:
        raw_band = self.retest.p95 if self.retest is not None else math.nan
        out = f"validate: {self.accuracy.line(raw_band)}"
        if self.calibrated_accuracy is not None:
            which = "stored calibration" if self.calibration_source == "stored" else "calibrated"
            out += f"\nvalidate ({which}, held-out): {self.calibrated_accuracy.line(raw_band)}"
        if self.drift is not None and self.corrected_accuracy is not None:
            out += (f"\n{self.drift.line()}"
                    f"\nvalidate (round-corrected): {self.corrected_accuracy.line(self.band)}")
        if self.covering is not None:
            out += f"\nexpected from the profile: {self.covering.line()}"
        edge = self.share_range()
        if edge is not None and claimable(self.band, edge.limit):
            out += f"\nhow firm the share is: {edge.line()}"
        return "\n".join([out, *self.repeatability_lines()])

    def share_range(self, limit: float = 0.05) -> ShareRange | None:
        """The within-+-`limit` share of the scored archs (round-corrected when there is a correction)
        and what a repeat could read (`repeatability.share_range`), the margin being this run's band.
        Measured: seven validations of one fbnet @ 160 table moved its archs' errors by 2.1% (p95) from
        one run to the next, where the runs' bands read 1.1-4.8% (median 1.9%): the band, though it
        compares half-runs, is about what a whole repeat does (most of a run's wobble is its own state,
        not its sample count: 30 rounds repeated at 0.74% sd against 0.80-1.15% with 15)."""
        scored = [r for r in self.rows if r.role == "score"]
        corrected = self.corrected_accuracy is not None and all(r.corrected_rel_error is not None for r in scored)
        errors = [r.corrected_rel_error if corrected else r.rel_error for r in scored]
        return share_range(errors, limit, self.band)

    def repeatability_lines(self) -> list[str]:
        """What the ground truth did between rounds, the band it supports, and what to do when it is wide."""
        if self.retest is None:
            return []
        out = f"repeatability: networks, odd vs even cycles, raw: {self.retest.line()}"
        if self.corrected_retest is not None:
            out += f"; round-corrected: {self.corrected_retest.line()}"
        return band_lines(out, self.band, "networks",
                          "run `lutnas doctor`, validate with more --rounds, or at a quieter time")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "table_id": self.table_id, "space": self.space, "resolution": self.resolution,
            "target": self.target, "runtime": self.runtime, "threads": self.threads,
            **asdict(self.accuracy),
            "allow_mismatch": self.allow_mismatch, "mismatched": list(self.mismatched),
            "options": self.options, "conditions": self.conditions,
            "rows": [asdict(r) for r in self.rows],
        }
        if self.drift is not None:
            out["drift"] = {**self.drift.to_dict(), "corrected": asdict(self.corrected_accuracy)}
        if self.retest is not None:
            out["repeatability"] = {
                "raw": self.retest.to_dict(),
                "corrected": self.corrected_retest.to_dict() if self.corrected_retest else None,
                "band": self.band, "claims": claims(self.band),
            }
            edge = self.share_range()
            out["repeatability"]["share_range_5"] = edge.to_dict() if edge is not None else None
        if self.covering is not None:
            out["covering_fit"] = self.covering.to_dict()
        if self.calibration is not None:
            out["calibration"] = {
                **self.calibration.to_dict(),
                "source": self.calibration_source,
                "raw_on_held_out": asdict(self.accuracy),
                "calibrated_on_held_out": asdict(self.calibrated_accuracy) if self.calibrated_accuracy else None,
            }
        return out


def build_report(table_meta: dict[str, Any], archs: Sequence[Sequence[int]], prediction: Any,
                 measured: Sequence[NetworkMeasurement], *, calibrate: bool = False, fit_fraction: float = 1 / 3,
                 seed: int = 0, kind: str = "linear", stored: Calibration | None = None,
                 track: SpeedTrack | None = None) -> ValidationReport:
    """Rows and statistics from predictions and whole-network measurements (no I/O, no timing).

    With `calibrate`, a seeded subset is marked "fit", the calibration is fitted on it, and every
    statistic is computed on the remaining "score" rows only (raw and calibrated). Without it, a
    `stored` calibration (the table's own) is scored the same way: rows of archs it was fitted on
    are marked "fit" and not scored. With `track` (the anchors timed at every round boundary), every
    network pass is divided by the drift of its own round and the result is scored as well.
    """
    pred = np.asarray(prediction.latency_ms, dtype=np.float64)
    truth = ground_truth(measured, track)
    meas = truth.raw_ms
    fit_idx, cal, source = _calibration(pred, meas, measured, calibrate, fit_fraction, seed, kind, stored)
    fit_set = set(fit_idx.tolist())
    score_idx = np.array([i for i in range(len(archs)) if i not in fit_set], dtype=np.int64)
    calibrated = cal.apply(pred) if cal is not None else None
    rows = [_row(i, a, prediction, truth, measured[i], "fit" if i in fit_set else "score", calibrated)
            for i, a in enumerate(archs)]
    report = ValidationReport(
        table_id=str(table_meta.get("id", "")), space=str(table_meta.get("space", "")),
        resolution=int(table_meta.get("resolution", 0)), target=str(table_meta.get("target", "")),
        runtime=str(table_meta.get("runtime", "")), threads=int(table_meta.get("threads", 1)),
        accuracy=accuracy(pred[score_idx], meas[score_idx]), rows=rows,
        options=dict(table_meta.get("options", {})), drift=track,
        retest=truth.raw_retest, corrected_retest=truth.corrected_retest,
    )
    if cal is not None:
        report.calibration, report.calibration_source = cal, source
        report.calibrated_accuracy = accuracy(calibrated[score_idx], meas[score_idx])
    if truth.corrected_ms is not None:
        report.corrected_accuracy = accuracy(pred[score_idx], truth.corrected_ms[score_idx])
    return report


def _calibration(pred: np.ndarray, meas: np.ndarray, measured: Sequence[NetworkMeasurement], calibrate: bool,
                 fit_fraction: float, seed: int, kind: str,
                 stored: Calibration | None) -> tuple[np.ndarray, Calibration | None, str]:
    """(rows used to fit, the calibration, its source): fitted here on a seeded subset, or stored."""
    if calibrate:
        fit_idx, _ = split_fit_score(len(measured), fit_fraction, seed)
        return fit_idx, fit_calibration(pred[fit_idx], meas[fit_idx], kind,
                                        tuple(measured[i].key for i in fit_idx)), "fitted here"
    if stored is not None:
        fitted = set(stored.fit_keys)
        on_fit = np.array([i for i, m in enumerate(measured) if m.key in fitted], dtype=np.int64)
        if len(on_fit) < len(measured):   # something left to score it on
            return on_fit, stored, "stored"
    return np.array([], dtype=np.int64), None, ""


def _row(i: int, arch: Sequence[int], prediction: Any, truth: GroundTruth, measured: NetworkMeasurement,
         role: str, calibrated: np.ndarray | None) -> ArchRow:
    pred, meas = float(prediction.latency_ms[i]), float(truth.raw_ms[i])
    corrected = None if truth.corrected_ms is None else float(truth.corrected_ms[i])
    return ArchRow(arch=list(map(int, arch)), predicted=pred, low=float(prediction.low_ms[i]),
                   high=float(prediction.high_ms[i]), measured=meas, rel_error=(pred - meas) / meas,
                   unstable=bool(measured.unstable), role=role,
                   calibrated=None if calibrated is None else float(calibrated[i]), corrected=corrected,
                   corrected_rel_error=None if corrected is None else (pred - corrected) / corrected,
                   passes_ms=list(truth.raw_passes[i]))


def write_report(report: ValidationReport, out_dir: str | Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"report": out_dir / "report.json", "scatter": out_dir / "scatter.png"}
    report.paths = {k: str(v) for k, v in paths.items()}
    paths["report"].write_text(json.dumps(report.to_dict(), indent=1, allow_nan=True) + "\n")
    plot_scatter(report, paths["scatter"])
    return paths


def plot_scatter(report: ValidationReport, path: Path) -> Path:
    """Predicted vs measured (ms) with y = x and the +/-10% band; fit archs drawn hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meas = np.array([r.measured for r in report.rows])
    pred = np.array([r.predicted for r in report.rows])
    score = np.array([r.role == "score" for r in report.rows])
    lo, hi = float(min(meas.min(), pred.min())) * 0.9, float(max(meas.max(), pred.max())) * 1.1
    xs = np.array([lo, hi])
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=120)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="tab:green", alpha=0.15, label="±10%")
    ax.plot(xs, xs, color="black", lw=1, label="y = x")
    ax.scatter(meas[score], pred[score], s=18, color="tab:blue", label="held-out archs")
    if (~score).any():
        ax.scatter(meas[~score], pred[~score], s=18, facecolors="none", edgecolors="tab:orange",
                   label="calibration fit archs")
    if report.corrected_accuracy is not None:
        corrected = np.array([r.corrected for r in report.rows])
        ax.scatter(corrected[score], pred[score], s=12, marker="+", color="0.4",
                   label=f"vs round-corrected (drift x{report.drift.overall:.3f})")
    if report.calibrated_accuracy is not None:
        cal = np.array([r.calibrated for r in report.rows])
        ax.scatter(meas[score], cal[score], s=12, marker="x", color="tab:red", label="calibrated")
    a = report.accuracy
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)", ylabel="predicted latency (ms)")
    ax.set_title(f"{report.space} @ {report.resolution}px, {report.runtime}/{report.target}, n={a.n}\n"
                 f"±10%: {a.within_10:.0%}  ±5%: {a.within_5:.0%}  MAPE {a.mape:.1%}  "
                 f"bias {a.bias:+.1%}  ρ {a.spearman:.2f}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def load_conditions() -> dict[str, Any]:
    """What the machine was doing (recorded, not checked: the lead re-runs in a quiet window)."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"load_avg": load, "time": time.time()}


def validation_archs(space: str | SearchSpace, archs_file: Path | None, count: int | None,
                     seed: int | None) -> list[Arch]:
    """The archs `lutnas validate` measures: those of an archs file of the table's space, or `count`
    archs sampled with `seed` (which must be given: one never used to build or calibrate the table)."""
    from lutnas.errors import LutnasError
    from lutnas.spaces import load_archs, resolve_space

    if (archs_file is None) == (count is None):
        raise LutnasError("give either --archs FILE or -n N --seed K")
    space = resolve_space(space)
    if archs_file is not None:
        return load_archs(archs_file, space.name)[1]
    if seed is None:
        raise LutnasError("-n needs --seed (pick one never used to build or calibrate the table)")
    from lutnas.spaces import sample_archs

    return list(sample_archs(space.name, count or 0, seed))


def validate(table: LatencyTable, archs: Sequence[Sequence[int]], out_dir: str | Path, *,
             runner: Runner | None = None, calibrate: bool = False, allow_mismatch: bool = False,
             fit_fraction: float = 1 / 3, seed: int = 0, kind: str = "linear", progress: bool = True,
             work_dir: Path | None = None, cache_dir: Path | None = None, policy: StabilityPolicy | None = None,
             tuning_db: Path | None = None, anchors: int | None = None, rounds: int = DEFAULT_ROUNDS,
             estimator: str | None = None) -> ValidationReport:
    """Measure `archs` as whole networks the way `table` was built, compare, write the report files.

    The runner (local by default) must describe the table's device: `table.check_compatible` refuses
    a mismatch naming the field, unless `allow_mismatch` (recorded in the report). With `calibrate`,
    the fitted calibration is stored with the table (attachment "calibration"). Networks are timed in
    at least `rounds` rounds; `anchors` table entries or networks (`drift.anchors_for`; None: its
    default per kind) are re-timed at every round boundary to correct each round by its drift (0: none). `estimator`
    summarises the networks (default: the table's own).
    """
    from lutnas.latency_tables.stats import check_estimator
    from lutnas.lowering.targets import target_from_json
    from lutnas.profiler.stability import DEFAULT_POLICY
    from lutnas.spaces import get_space

    meta = table.meta
    check_estimator(estimator or table.estimator)
    space = get_space(meta.space)
    archs = [space.validate(a) for a in archs]
    target = target_from_json(meta.target_name, meta.target_json)
    policy = policy or DEFAULT_POLICY
    if runner is None:
        from lutnas.profiler.runners import LocalRunner

        runner = LocalRunner(target, meta.runtime, meta.threads, policy)
    mismatched = table.check_compatible(space=space.name, resolution=meta.resolution, target=target,
                                        runtime=meta.runtime, threads=meta.threads,
                                        fingerprint=runner.describe(), allow_mismatch=allow_mismatch)
    prediction = table.dense().predict(np.asarray(archs, dtype=np.int64))
    stored = stored_calibration(table)   # read with the prediction, before the networks compile and run
    before = load_conditions()
    measured, track = time_in_rounds(table, archs, runner, target, policy=policy, rounds=rounds, anchors=anchors,
                                     estimator=estimator, progress=progress, work_dir=work_dir,
                                     cache_dir=cache_dir, tuning_db=tuning_db)
    info = {"id": meta.id, "space": meta.space, "resolution": meta.resolution, "target": meta.target_name,
            "runtime": meta.runtime, "threads": meta.threads, "options": meta.options}
    report = build_report(info, archs, prediction, measured, calibrate=calibrate, fit_fraction=fit_fraction,
                          seed=seed, kind=kind, stored=stored, track=track)
    report.allow_mismatch = bool(allow_mismatch)
    report.mismatched = list(mismatched)
    report.covering = covering_fit(table)   # in-network tables: the profile's own estimate
    report.conditions = {"before": before, "after": load_conditions(), "pipeline": meta.pipeline,
                         "fingerprint_id": meta.fingerprint_id, "rounds": rounds,
                         "anchors": len(track.then) if track is not None else 0,
                         "estimator": measured[0].estimator if measured else table.estimator}
    if calibrate:
        store_calibration(table, report)
    write_report(report, out_dir)
    return report


def time_in_rounds(table: LatencyTable, archs: Sequence[tuple[int, ...]], runner: Runner, target: TargetSpec, *,
                   policy: StabilityPolicy, rounds: int, anchors: int | None, estimator: str | None, progress: bool,
                   work_dir: Path | None, cache_dir: Path | None,
                   tuning_db: Path | None) -> tuple[list[NetworkMeasurement], SpeedTrack | None]:
    """The networks timed interleaved, the table's anchors timed at every cycle boundary."""
    from lutnas.latency_tables.drift import BoundaryTimer, anchors_for
    from lutnas.latency_tables.jobs import work_dir_for
    from lutnas.latency_tables.networks import measure_for_table
    from lutnas.latency_tables.tuned import table_tuning_db

    threads = runner.threads  # differs from the table's only under allow_mismatch
    tuning_db = tuning_db or table_tuning_db(table)
    anchor_set = anchors_for(table, anchors, runner=runner, target=target, threads=threads,
                             work_dir=work_dir_for(Path(table.path)), tuning_db=tuning_db, progress=progress)
    timer = BoundaryTimer(anchor_set) if anchor_set is not None else None
    measured = measure_for_table(table, archs, runner=runner, policy=policy, progress=progress, work_dir=work_dir,
                                 cache_dir=cache_dir, tuning_db=tuning_db, min_rounds=rounds, at_boundary=timer,
                                 estimator=estimator)
    return measured, timer.track() if timer is not None else None


def stored_calibration(table: LatencyTable) -> Calibration | None:
    doc = table.calibration
    return Calibration.from_dict(doc) if doc else None


def store_calibration(table: LatencyTable, report: ValidationReport) -> None:
    """Keep the calibration with the table, with its held-out scores."""
    held_out = {"raw": asdict(report.accuracy),
                "calibrated": asdict(report.calibrated_accuracy) if report.calibrated_accuracy else None}
    store_with_table(table, report.calibration, held_out=held_out)
