"""The `--onnx` forms of `lutnas profile / predict / measure / validate`: kernel-table stage calls, as text.

cli.py parses the options, builds the runner (`deploy.make_runner`, or None for this machine) and
prints what these return; the work is in `kernel_table` and `kernel_validate`. JSON output is one
object per model with at least "model" and "latency_ms".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lutnas.latency_tables.kernel_table import KERNEL_REPEATS, KernelSettings, predict_models, profile_models
from lutnas.latency_tables.kernel_validate import ground_truth_retest, measure_models, validate_models
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.profiler.measurement import DEFAULT_MIN_REPEAT_MS


def profile_onnx(paths: list[Path], target: Any, db: Path, *, threads: int = 1, pipeline: str | None = None,
                 remeasure: bool = False, workers: int = 2, repeats: int | None = None,
                 min_repeat_ms: float | None = None, cache_mode: str | None = None, runner: Any = None,
                 progress: bool = False, before_timing: Callable[[], None] | None = None, zoo: int = 0) -> str:
    settings = KernelSettings(cache_mode=cache_mode, repeats=repeats or KERNEL_REPEATS,
                              min_repeat_ms=DEFAULT_MIN_REPEAT_MS if min_repeat_ms is None else min_repeat_ms)
    result = profile_models(list(paths), target, db, runner=runner, threads=threads,
                            pipeline=pipeline or DEFAULT_PIPELINE, settings=settings, progress=progress,
                            workers=workers, remeasure=remeasure, before_timing=before_timing, zoo=zoo)
    return "\n".join(result.lines())


def predict_onnx(db: Path, paths: list[Path], table_id: str | None = None, as_json: bool = False) -> str:
    predictions = predict_models(db, list(paths), table_id)
    if as_json:
        return json.dumps([p.to_dict() for p in predictions], indent=2)
    return "\n".join(line for p in predictions for line in p.lines())


def measure_onnx(paths: list[Path], target: Any, *, threads: int = 1, pipeline: str | None = None,
                 workers: int = 2, runner: Any = None, as_json: bool = False, progress: bool = False,
                 before_timing: Callable[[], None] | None = None) -> str:
    results = measure_models(list(paths), target, threads=threads, pipeline=pipeline or DEFAULT_PIPELINE,
                             runner=runner, progress=progress, workers=workers, before_timing=before_timing)
    if as_json:
        return json.dumps([r.to_dict() for r in results], indent=2)
    lines = [f"{r.model}: {r.latency_ms:.4f} ms over {r.passes} pass(es)"
             f"{', unstable: ' + r.reason if r.unstable else ''}" for r in results]
    return "\n".join([*lines, f"repeatability (odd vs even cycles): {ground_truth_retest(results).line()}"])


def validate_onnx(db: Path, paths: list[Path], out_dir: Path, *, table_id: str | None = None,
                  allow_mismatch: bool = False, runner: Any = None, progress: bool = False,
                  before_timing: Callable[[], None] | None = None) -> str:
    report = validate_models(db, list(paths), out_dir, table_id=table_id, runner=runner,
                             allow_mismatch=allow_mismatch, progress=progress, before_timing=before_timing)
    lines = report.lines()
    if report.mismatched:
        lines.append(f"warning: table used despite mismatch (recorded): {', '.join(report.mismatched)}")
    return "\n".join([*lines, f"wrote {report.paths['report']}, {report.paths['scatter']}"])
