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

Speed drift: a few of the table's own entries are re-timed right before and after the networks
(`drift.py`); the report gives the drift factor and the accuracy of the predictions scaled by it
beside the raw accuracy, so a user can tell a wrong table from a device that changed speed.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.latency_tables.calibration import Calibration, fit_calibration, split_fit_score, store_with_table
from lutnas.latency_tables.drift import DEFAULT_ANCHORS, Drift

if TYPE_CHECKING:
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import Runner
    from lutnas.profiler.stability import StabilityPolicy
    from lutnas.spaces import Arch, SearchSpace

REPORT_FORMAT = 1


@dataclass(frozen=True)
class Accuracy:
    n: int
    within_5: float     # fraction of archs with |rel_error| <= 5%
    within_10: float
    mape: float         # mean |rel_error| (fraction)
    rmspe: float        # sqrt(mean rel_error^2)
    bias: float         # mean rel_error (signed)
    spearman: float     # rank correlation of predicted vs measured (nan for < 2 archs)

    def line(self) -> str:
        return (f"{self.n} archs, within ±10%: {self.within_10:.1%}, within ±5%: {self.within_5:.1%}, "
                f"MAPE {self.mape:.1%}, bias {self.bias:+.1%}, spearman {self.spearman:.2f}")


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
    drift_corrected: float | None = None   # predicted * the drift factor of the anchors


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
    drift: Drift | None = None
    drift_corrected_accuracy: Accuracy | None = None   # on the scored archs, raw table x drift factor
    options: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        out = f"validate: {self.accuracy.line()}"
        if self.calibrated_accuracy is not None:
            which = "stored calibration" if self.calibration_source == "stored" else "calibrated"
            out += f"\nvalidate ({which}, held-out): {self.calibrated_accuracy.line()}"
        if self.drift is not None and self.drift_corrected_accuracy is not None:
            out += (f"\n{self.drift.line()}"
                    f"\nvalidate (drift-corrected): {self.drift_corrected_accuracy.line()}")
        return out

    def apply_drift(self, drift: Drift | None) -> None:
        """Record the anchors' drift and score the predictions scaled by it (scored rows only)."""
        if drift is None:
            return
        self.drift = drift
        self.rows = [replace(r, drift_corrected=r.predicted * drift.factor) for r in self.rows]
        scored = [r for r in self.rows if r.role == "score"]
        self.drift_corrected_accuracy = accuracy([r.drift_corrected for r in scored], [r.measured for r in scored])

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
            out["drift"] = {**self.drift.to_dict(), "corrected": asdict(self.drift_corrected_accuracy)}
        if self.calibration is not None:
            out["calibration"] = {
                **self.calibration.to_dict(),
                "source": self.calibration_source,
                "raw_on_held_out": asdict(self.accuracy),
                "calibrated_on_held_out": asdict(self.calibrated_accuracy) if self.calibrated_accuracy else None,
            }
        return out


def build_report(table_meta: dict[str, Any], archs: Sequence[Sequence[int]], prediction: Any,
                 measured: Sequence[Any], *, calibrate: bool = False, fit_fraction: float = 1 / 3,
                 seed: int = 0, kind: str = "linear", stored: Calibration | None = None) -> ValidationReport:
    """Rows and statistics from predictions and whole-network measurements (no I/O, no timing).

    With `calibrate`, a seeded subset is marked "fit", the calibration is fitted on it, and every
    statistic is computed on the remaining "score" rows only (raw and calibrated). Without it, a
    `stored` calibration (the table's own) is scored the same way: rows of archs it was fitted on
    are marked "fit" and not scored.
    """
    pred = np.asarray(prediction.latency_ms, dtype=np.float64)
    meas = np.asarray([m.latency_ms for m in measured], dtype=np.float64)
    fit_idx, cal, source = np.array([], dtype=np.int64), None, ""
    if calibrate:
        fit_idx, _ = split_fit_score(len(archs), fit_fraction, seed)
        cal = fit_calibration(pred[fit_idx], meas[fit_idx], kind, tuple(measured[i].key for i in fit_idx))
        source = "fitted here"
    elif stored is not None:
        fitted = set(stored.fit_keys)
        on_fit = np.array([i for i, m in enumerate(measured) if m.key in fitted], dtype=np.int64)
        if len(on_fit) < len(archs):   # something left to score it on
            fit_idx, cal, source = on_fit, stored, "stored"
    fit_set = set(fit_idx.tolist())
    score_idx = np.array([i for i in range(len(archs)) if i not in fit_set], dtype=np.int64)
    calibrated = cal.apply(pred) if cal is not None else None
    rows = [
        ArchRow(arch=list(map(int, a)), predicted=float(pred[i]), low=float(prediction.low_ms[i]),
                high=float(prediction.high_ms[i]), measured=float(meas[i]),
                rel_error=float((pred[i] - meas[i]) / meas[i]), unstable=bool(measured[i].unstable),
                role="fit" if i in fit_set else "score",
                calibrated=None if calibrated is None else float(calibrated[i]))
        for i, a in enumerate(archs)
    ]
    report = ValidationReport(
        table_id=str(table_meta.get("id", "")), space=str(table_meta.get("space", "")),
        resolution=int(table_meta.get("resolution", 0)), target=str(table_meta.get("target", "")),
        runtime=str(table_meta.get("runtime", "")), threads=int(table_meta.get("threads", 1)),
        accuracy=accuracy(pred[score_idx], meas[score_idx]), rows=rows,
        options=dict(table_meta.get("options", {})),
    )
    if cal is not None:
        report.calibration, report.calibration_source = cal, source
        report.calibrated_accuracy = accuracy(calibrated[score_idx], meas[score_idx])
    return report


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
    if report.drift_corrected_accuracy is not None:
        corrected = np.array([r.drift_corrected for r in report.rows])
        ax.scatter(meas[score], corrected[score], s=12, marker="+", color="0.4",
                   label=f"x drift {report.drift.factor:.3f}")
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
             tuning_db: Path | None = None, anchors: int = DEFAULT_ANCHORS) -> ValidationReport:
    """Measure `archs` as whole networks the way `table` was built, compare, write the report files.

    The runner (local by default) must describe the table's device: `table.check_compatible` refuses
    a mismatch naming the field, unless `allow_mismatch` (recorded in the report). With `calibrate`,
    the fitted calibration is stored with the table (attachment "calibration"). `anchors` table
    entries are re-timed before and after the networks to measure speed drift (0: none).
    """
    from lutnas.latency_tables.drift import anchor_entries
    from lutnas.latency_tables.networks import measure_for_table
    from lutnas.latency_tables.tuned import table_tuning_db
    from lutnas.lowering.targets import target_from_json
    from lutnas.profiler.stability import DEFAULT_POLICY
    from lutnas.spaces import get_space

    meta = table.meta
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
    threads = runner.threads  # differs from the table's only under allow_mismatch
    tuning_db = tuning_db or table_tuning_db(table)
    anchor = _Anchors(table, runner, anchor_entries(table, anchors), target, threads, tuning_db, progress)
    measured = measure_for_table(table, archs, runner=runner, policy=policy, progress=progress, work_dir=work_dir,
                                 cache_dir=cache_dir, tuning_db=tuning_db, before_timing=anchor.before)
    info = {"id": meta.id, "space": meta.space, "resolution": meta.resolution, "target": meta.target_name,
            "runtime": meta.runtime, "threads": meta.threads, "options": meta.options}
    report = build_report(info, archs, prediction, measured, calibrate=calibrate, fit_fraction=fit_fraction,
                          seed=seed, kind=kind, stored=stored)
    report.apply_drift(anchor.after())
    report.allow_mismatch = bool(allow_mismatch)
    report.mismatched = list(mismatched)
    report.conditions = {"before": before, "after": load_conditions(), "pipeline": meta.pipeline,
                         "fingerprint_id": meta.fingerprint_id}
    if calibrate:
        store_calibration(table, report)
    write_report(report, out_dir)
    return report


class _Anchors:
    """Compiles the anchor entries up front, times them before and after the networks (drift.py)."""

    def __init__(self, table: LatencyTable, runner: Runner, then: dict[str, float], target: TargetSpec, threads: int,
                 tuning_db: Path | None, progress: bool) -> None:
        from lutnas.latency_tables.drift import anchor_jobs
        from lutnas.latency_tables.jobs import work_dir_for

        self.then, self.runner, self._before = then, runner, {}
        self.jobs = anchor_jobs(table, list(then), target, threads, work_dir_for(Path(table.path)), tuning_db,
                                progress) if then else {}

    def before(self) -> None:
        from lutnas.latency_tables.drift import time_anchors

        self._before = time_anchors(self.runner, self.jobs)

    def after(self) -> Drift | None:
        from lutnas.latency_tables.drift import drift_from, time_anchors

        return drift_from(self.then, self._before, time_anchors(self.runner, self.jobs)) if self.jobs else None


def stored_calibration(table: LatencyTable) -> Calibration | None:
    doc = table.calibration
    return Calibration.from_dict(doc) if doc else None


def store_calibration(table: LatencyTable, report: ValidationReport) -> None:
    """Keep the calibration with the table, with its held-out scores."""
    held_out = {"raw": asdict(report.accuracy),
                "calibrated": asdict(report.calibrated_accuracy) if report.calibrated_accuracy else None}
    store_with_table(table, report.calibration, held_out=held_out)
