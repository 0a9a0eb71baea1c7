"""Whole ONNX models measured, and a kernel table's predictions checked against them.

`measure_models` is `lutnas measure --onnx`: each model compiled (the same cached build the kernel
table uses) and its VM `main` timed with the profiler's harness, all models **interleaved** (cycles
of one sample of every model, `profiler.rounds.measure_interleaved`, as `measure` and `validate`
time networks), so every model's samples share the same time windows: timed one after another,
each model caught one phase of this VM's speed (in one bench run the first 7 of 24 models read
within 6% of a run 30 minutes before, the next 17 read 11-70% slower). A device farm, which cannot
interleave, times the models in rounds of passes (`networks.time_whole`). `validate_models` is `lutnas validate --onnx`: the table's
prediction of each model beside its measurement, on the table's own target, threads, pipeline and
device (a runner describing another device is refused unless `allow_mismatch`), written as
`report.json` (per-model rows and `validate.accuracy` statistics) and `scatter.png`.

Drift: a table's kernels and a validation's models are timed minutes apart, and this VM's speed
moves by more than the ±5% goal in that time (issue 17). Every validated model the table profiled
is an anchor: its whole-run time stored at profile time against its measurement now is the
machine's drift (`KernelDrift`); each model's prediction is also reported corrected by the median
drift of the *other* anchors, so no model's own measurement sets its correction. Raw and corrected
are both reported; a model with no other anchor beside it (none, or it is the only one) has no
corrected figure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lutnas.errors import TableError
from lutnas.latency_tables.kernel_table import (
    KernelPrediction,
    OnnxModel,
    compile_models,
    model_kernels,
    open_kernel_table,
    read_models,
)
from lutnas.latency_tables.networks import time_whole
from lutnas.latency_tables.repeatability import Retest, band_lines, claims, pass_values, retest
from lutnas.latency_tables.validate import Accuracy, accuracy, load_conditions
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.profiler.measurement import MeasureJob
from lutnas.profiler.rounds import INTERLEAVED_CYCLES
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, verdict


@dataclass(frozen=True)
class ModelLatency:
    """A whole model's measured latency: median of its samples (pooled over its stable passes)."""

    model: str
    path: str
    latency_ms: float
    passes: int
    unstable: bool
    reason: str
    halves: tuple[float, ...] = ()   # its test-retest values: medians of its odd and even cycles (a farm: per pass)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ground_truth_retest(measured: list[ModelLatency]) -> Retest:
    """How far each model's odd-cycle median moved from its even-cycle median: the band a validation
    against these measurements supports (`repeatability.claimable`)."""
    return retest([m.halves for m in measured])


def measure_models(paths: list[str | Path], target: Any, *, threads: int = 1, pipeline: str = DEFAULT_PIPELINE,
                   runner: Any = None, policy: StabilityPolicy = DEFAULT_POLICY, progress: bool = True,
                   workers: int = 2, repeats: int | None = None, min_repeat_ms: float | None = None,
                   before_timing: Callable[[], None] | None = None,
                   cycles: int = INTERLEAVED_CYCLES) -> list[ModelLatency]:
    """Compile every model first, then time them whole, interleaved in `cycles` cycles (one
    `ModelLatency` per path, in order); `before_timing` runs between the two."""
    from lutnas.lowering.targets import get_target
    from lutnas.profiler.runners import LocalRunner

    target = get_target(target) if isinstance(target, str) else target
    models = read_models(paths)
    compiled = compile_models(models, target, pipeline, workers, progress)
    if before_timing is not None:
        before_timing()
    runner = runner or LocalRunner(target, "tvm", threads, policy)
    extra = {k: v for k, v in (("repeats", repeats), ("min_repeat_ms", min_repeat_ms)) if v is not None}
    jobs = [MeasureJob(model.key, model.input_shape, library_path=library, target=target.name, threads=threads,
                       dtype=model.dtype, **extra) for model, (library, _) in zip(models, compiled)]
    out = []
    for model, passes in zip(models, time_whole(runner, jobs, policy, min_rounds=cycles, progress=progress,
                                                label="measuring models")):
        v = verdict(passes, policy)
        out.append(ModelLatency(model.name, str(model.path), v.median_ms, len(passes), not v.stable, v.reason,
                                tuple(pass_values(passes, "median"))))
    return out


@dataclass(frozen=True)
class KernelDrift:
    """Measured now / stored at profile time, per anchor (a validated model the table profiled)."""

    ratios: dict[str, float]     # model name -> now / then

    def factor_for(self, model: str) -> float | None:
        """The median ratio of the anchors other than `model`; None without another anchor."""
        others = [r for name, r in self.ratios.items() if name != model]
        return float(np.median(others)) if others else None

    def line(self) -> str:
        if not self.ratios:
            return ("drift: no anchors (none of these models was profiled into the table); validate with a few "
                    "profiled models beside them to correct for the machine's speed since profiling")
        r = np.array(list(self.ratios.values()))
        return (f"drift since profiling: {len(r)} anchor model(s) run x{np.median(r):.3f} their profiled time "
                f"(x{r.min():.3f}-x{r.max():.3f})")

    def to_dict(self) -> dict[str, Any]:
        values = list(self.ratios.values())
        return {"anchors": dict(self.ratios), "median": float(np.median(values)) if values else None}


def build_drift(models: list[OnnxModel], measured: list[ModelLatency], profiled: dict[str, float]) -> KernelDrift:
    """Anchors among `models` (matched to the table's profiled models by file and shape key)."""
    return KernelDrift({m.name: lat.latency_ms / profiled[m.key] for m, lat in zip(models, measured)
                        if m.key in profiled and profiled[m.key] > 0})


@dataclass(frozen=True)
class ModelRow:
    model: str
    predicted: float
    measured: float
    rel_error: float
    corrected: float | None  # predicted x the other anchors' drift (None: no other anchor)
    measured_ms: float       # part of the prediction from measured kernels
    learned_ms: float        # part from learned kernels
    fixed_ms: float
    missing: int             # kernels the table lacked
    unstable: bool


@dataclass
class KernelValidation:
    table_id: str
    accuracy: Accuracy
    rows: list[ModelRow]
    mismatched: list[str]
    conditions: dict[str, Any]
    paths: dict[str, str]
    drift: KernelDrift
    corrected_accuracy: Accuracy | None      # over the rows with a drift correction
    retest: Retest                           # the ground truth's odd vs even cycles

    def lines(self) -> list[str]:
        band = self.retest.p95
        out = [f"{r.model}: predicted {r.predicted:.4f} ms, measured {r.measured:.4f} ms ({r.rel_error:+.1%}); "
               f"{r.missing} kernel(s) learned" for r in self.rows]
        out += [(f"validate (kernel table {self.table_id}): {self.accuracy.line(band).replace('archs', 'models')}, "
                f"RMSPE {self.accuracy.rmspe:.1%}"), self.drift.line()]
        if self.corrected_accuracy is not None:
            acc = self.corrected_accuracy
            out.append(f"drift-corrected: {acc.line(band).replace('archs', 'models')}, RMSPE {acc.rmspe:.1%}")
        return out + band_lines(f"repeatability: models, odd vs even cycles: {self.retest.line()}", band, "models",
                                "run `lutnas doctor`, validate at a quieter time, or measure more models")

    def to_dict(self) -> dict[str, Any]:
        corrected = asdict(self.corrected_accuracy) if self.corrected_accuracy is not None else None
        return {"table_id": self.table_id, **asdict(self.accuracy), "mismatched": self.mismatched,
                "conditions": self.conditions, "drift": self.drift.to_dict(), "corrected": corrected,
                "retest": self.retest.to_dict(), "band": self.retest.p95,
                "claims": claims(self.retest.p95),
                "rows": [asdict(r) for r in self.rows]}


def build_rows(predictions: list[KernelPrediction], measured: list[ModelLatency],
               drift: KernelDrift | None = None) -> list[ModelRow]:
    """Rows of predicted vs measured, and corrected by `drift` where it has other anchors (pure)."""
    rows = []
    for p, m in zip(predictions, measured):
        factor = drift.factor_for(p.model) if drift is not None else None
        rows.append(ModelRow(p.model, p.latency_ms, m.latency_ms, (p.latency_ms - m.latency_ms) / m.latency_ms,
                             None if factor is None else p.latency_ms * factor, p.measured_ms, p.learned_ms,
                             p.fixed_ms, len(p.missing), m.unstable))
    return rows


def corrected_accuracy(rows: list[ModelRow]) -> Accuracy | None:
    pairs = [(r.corrected, r.measured) for r in rows if r.corrected is not None]
    return accuracy(*zip(*pairs)) if pairs else None


def validate_models(db_path: str | Path, paths: list[str | Path], out_dir: str | Path, *, table_id: str | None = None,
                    runner: Any = None, allow_mismatch: bool = False, progress: bool = True,
                    workers: int = 2, regressor: str | None = None,
                    before_timing: Callable[[], None] | None = None) -> KernelValidation:
    """Predict and measure every model on the table's setup; write report.json and scatter.png."""
    from lutnas.lowering.targets import target_from_json
    from lutnas.profiler.fingerprint import mismatched_fields
    from lutnas.profiler.runners import LocalRunner

    models = read_models(paths)
    table = open_kernel_table(db_path, table_id, **({"regressor": regressor} if regressor else {}))
    try:
        meta = table.meta
        target = target_from_json(meta.target_name, meta.target_json)
        runner = runner or LocalRunner(target, "tvm", meta.threads, table.policy)
        fp = runner.describe()
        mismatched = [] if fp["fingerprint_id"] == meta.fingerprint_id else mismatched_fields(meta.fingerprint, fp)
        if mismatched and not allow_mismatch:
            raise TableError(f"kernel table {meta.id} was measured on another device or setup: "
                             f"{'; '.join(mismatched)} (--allow-mismatch to validate anyway)")
        predictions = [table.predict(model_kernels(table, m), m.name) for m in models]
        profiled = table.profiled_wholes()
    finally:
        table.ks.store.close()
    before = load_conditions()
    measured = measure_models(paths, target, threads=meta.threads, pipeline=meta.pipeline, runner=runner,
                              policy=table.policy, progress=progress, workers=workers, before_timing=before_timing)
    drift = build_drift(models, measured, profiled)
    rows = build_rows(predictions, measured, drift)
    report = KernelValidation(meta.id, accuracy([r.predicted for r in rows], [r.measured for r in rows]), rows,
                              list(mismatched), {"before": before, "after": load_conditions()}, {}, drift,
                              corrected_accuracy(rows), ground_truth_retest(measured))
    write_report(report, Path(out_dir))
    return report


def write_report(report: KernelValidation, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"report": out_dir / "report.json", "scatter": out_dir / "scatter.png"}
    report.paths = {k: str(v) for k, v in paths.items()}
    paths["report"].write_text(json.dumps(report.to_dict(), indent=1, allow_nan=True) + "\n")
    plot_models(report.rows, report.accuracy, f"kernel table {report.table_id}", paths["scatter"])


def plot_models(rows: list[ModelRow], acc: Accuracy, title: str, path: Path) -> Path:
    """Predicted vs measured per model, y = x and the +/-5% and +/-10% bands, models labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meas = np.array([r.measured for r in rows])
    pred = np.array([r.predicted for r in rows])
    lo, hi = float(min(meas.min(), pred.min())) * 0.8, float(max(meas.max(), pred.max())) * 1.25
    xs = np.geomspace(lo, hi, 50)
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=120)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="tab:green", alpha=0.12, label="±10%")
    ax.fill_between(xs, xs * 0.95, xs * 1.05, color="tab:green", alpha=0.2, label="±5%")
    ax.plot(xs, xs, color="black", lw=1, label="y = x")
    learned = np.array([r.missing > 0 for r in rows])
    ax.scatter(meas[~learned], pred[~learned], s=20, color="tab:blue", label="all kernels measured")
    if learned.any():
        ax.scatter(meas[learned], pred[learned], s=20, color="tab:orange", label="some kernels learned")
    for r in rows:
        ax.annotate(r.model, (r.measured, r.predicted), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)",
           ylabel="predicted latency (ms)")
    ax.set_title(f"{title}, n={acc.n}\nMAPE {acc.mape:.1%}  RMSPE {acc.rmspe:.1%}  bias {acc.bias:+.1%}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
