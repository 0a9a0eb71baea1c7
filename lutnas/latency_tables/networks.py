"""Whole-network measurement: the ground truth a latency table is validated against.

nn-Meter (Zhang et al., MobiSys 2021) and the ProxylessNAS / FBNet papers judge a latency LUT by
comparing its sum-of-blocks prediction with the measured latency of complete networks. The
comparison is only honest when both sides are timed the same way, so a network here goes through
exactly the path a table entry goes through: export to ONNX (`lowering.export_onnx`), compile every
library first in worker processes (`profiler.workers.compile_many`; never time while compiling),
then time each network with a `profiler` runner and the same stability policy in rounds (the one
loop of `profiler.rounds`), re-measuring unstable networks in later rounds (not back to back) and
keeping every pass. A network's latency is the table's estimator over its kept passes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from lutnas.latency_tables.progress import ProgressBar, status_spinner
from lutnas.latency_tables.stats import DEFAULT_ESTIMATOR, check_estimator, estimates
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.rounds import RoundHooks, measure_in_rounds
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, Verdict, verdict

DEFAULT_ROUNDS = 3   # measure and validate time every network in at least this many rounds


@dataclass(frozen=True)
class NetworkMeasurement:
    """Every pass of one whole network, with the stability verdict over them."""

    arch: tuple[int, ...]
    key: str
    onnx_path: Path
    library_path: Path | None
    passes: tuple[Measurement, ...]
    verdict: Verdict
    estimator: str = DEFAULT_ESTIMATOR

    @property
    def kept(self) -> tuple[Measurement, ...]:
        """The passes the verdict pools: stable on their own, or all when none was (as a table keeps)."""
        return tuple(p for p in self.passes if not p.unstable) or self.passes

    @cached_property
    def latency_ms(self) -> float:
        """The estimator (the table's, default median) over the kept passes."""
        return float(estimates([[p.samples_ms for p in self.kept]], self.estimator)[0])

    @property
    def samples_ms(self) -> list[float]:
        return [s for p in self.passes for s in p.samples_ms]

    @property
    def unstable(self) -> bool:
        return not self.verdict.stable

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": list(self.arch),
            "latency_ms": self.latency_ms,
            "estimator": self.estimator,
            "samples_ms": self.samples_ms,
            "passes": len(self.passes),
            "unstable": self.unstable,
            "unstable_reason": self.verdict.reason,
            "unstable_passes": sum(p.unstable for p in self.passes),
            "inner_loops": [p.inner_loops for p in self.passes],
            "rounds": [p.meta.get("round") for p in self.passes],
            "key": self.key,
        }


def network_key(space_name: str, arch: Sequence[int], resolution: int, width_mult: float = 1.0,
                num_classes: int = 1000) -> str:
    """A readable, unique name for one network (used as the measurement key and file stem)."""
    text = json.dumps([space_name, list(arch), resolution, width_mult, num_classes])
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"net-{space_name}-r{resolution}-{digest}"


def default_network_dir() -> Path:
    from lutnas.profiler.workers import default_cache_dir

    return default_cache_dir().parent / "networks"


def export_networks(space: Any, archs: Sequence[Sequence[int]], resolution: int, out_dir: Path, *,
                    width_mult: float = 1.0, num_classes: int = 1000) -> list[Path]:
    """ONNX file per arch (deterministic export, reused when already written)."""
    from lutnas.lowering.onnx_io import export_onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for arch in archs:
        path = out_dir / f"{network_key(space.name, arch, resolution, width_mult, num_classes)}.onnx"
        if not path.is_file():
            module = space.build(arch, resolution, num_classes=num_classes, width_mult=width_mult)
            tmp = path.with_suffix(".tmp.onnx")
            export_onnx(module, (1, 3, resolution, resolution), tmp)
            tmp.replace(path)
        paths.append(path)
    return paths


def measure_archs(
    space: Any,
    archs: Sequence[Sequence[int]],
    resolution: int,
    target: Any,
    runtime: str,
    *,
    threads: int = 1,
    pipeline: str = DEFAULT_PIPELINE,
    runner: Any = None,
    policy: StabilityPolicy = DEFAULT_POLICY,
    progress: bool = True,
    width_mult: float = 1.0,
    num_classes: int = 1000,
    work_dir: Path | None = None,
    cache_dir: Path | None = None,
    workers: int = 2,
    tuning_db: Path | None = None,
    min_rounds: int = 0,
    at_boundary: Callable[[int], None] | None = None,
    estimator: str = DEFAULT_ESTIMATOR,
) -> list[NetworkMeasurement]:
    """Compile (tvm) and time each whole network; one result per arch, in input order.

    `space` is a SearchSpace or its name, `target` a TargetSpec or name. `runner` is any profiler
    `Runner` (local by default; RPC / tracker runners time remotely); it must be configured for
    (target, runtime, threads). Networks are timed in rounds (`profiler.rounds`): at least
    `min_rounds` passes each, more for unstable ones up to `policy.max_passes`. `at_boundary(k)` runs
    after every network is compiled, before round 1 (k = 0) and after every round k (validate times
    its drift anchors there). `tuning_db`: the MetaSchedule database a tuned pipeline applies.
    """
    check_estimator(estimator)
    jobs = network_jobs(space, archs, resolution, target, runtime, threads=threads, pipeline=pipeline,
                        width_mult=width_mult, num_classes=num_classes, work_dir=work_dir, cache_dir=cache_dir,
                        workers=workers, tuning_db=tuning_db, progress=progress)
    if runner is None:
        from lutnas.profiler.runners import LocalRunner

        runner = LocalRunner(target, runtime, threads, policy)
    timed = time_networks(runner, jobs, policy, min_rounds=min_rounds, at_boundary=at_boundary,
                          estimator=estimator, progress=progress)
    return [timed[a] for a in _validated(space, archs)]


def network_jobs(space: Any, archs: Sequence[Sequence[int]], resolution: int, target: Any, runtime: str, *,
                 threads: int = 1, pipeline: str = DEFAULT_PIPELINE, width_mult: float = 1.0,
                 num_classes: int = 1000, work_dir: Path | None = None, cache_dir: Path | None = None,
                 workers: int = 2, tuning_db: Path | None = None,
                 progress: bool = True) -> dict[tuple[int, ...], MeasureJob]:
    """One `MeasureJob` per distinct arch: export ONNX, compile every library first (tvm)."""
    from lutnas.lowering.targets import get_target
    from lutnas.spaces import get_space

    space = get_space(space) if isinstance(space, str) else space
    target = get_target(target) if isinstance(target, str) else target
    resolution = space.check_resolution(resolution)
    unique = list(dict.fromkeys(space.validate(a) for a in archs))
    net_dir = Path(work_dir) if work_dir is not None else default_network_dir()
    onnx_paths = export_networks(space, unique, resolution, net_dir / space.name, width_mult=width_mult,
                                 num_classes=num_classes)
    shape = (1, 3, resolution, resolution)
    libs: list[Path | None] = [None] * len(unique)
    if runtime == "tvm":
        from lutnas.profiler.workers import CompileJob, compile_many

        with status_spinner(f"compiling {len(unique)} network(s) for {target.name}", progress):
            compiled = compile_many([CompileJob(p, shape) for p in onnx_paths], target, workers=workers,
                                    cache_dir=cache_dir, pipeline=pipeline, tuning_db=tuning_db)
        libs = [c.library_path for c in compiled]
    return {a: MeasureJob(key=network_key(space.name, a, resolution, width_mult, num_classes), input_shape=shape,
                          runtime=runtime, library_path=lib, onnx_path=onnx, target=target.name, threads=threads)
            for a, onnx, lib in zip(unique, onnx_paths, libs)}


def time_networks(runner: Any, jobs: dict[tuple[int, ...], MeasureJob], policy: StabilityPolicy = DEFAULT_POLICY,
                  *, min_rounds: int = 0, at_boundary: Callable[[int], None] | None = None,
                  estimator: str = DEFAULT_ESTIMATOR, progress: bool = True,
                  label: str = "measuring networks") -> dict[tuple[int, ...], NetworkMeasurement]:
    """Time compiled networks in rounds (the one loop of `profiler.rounds`), every pass kept."""
    archs = list(jobs)
    with ProgressBar(label, len(archs), enabled=progress, stderr=True) as bar:
        hooks = RoundHooks(at_boundary=at_boundary, on_settled=lambda i: bar.advance(),
                           on_round=lambda r, n: bar.describe(f"{label} (round {r}, {n} network(s))"))
        passes = measure_in_rounds(runner, [jobs[a] for a in archs], policy, min_rounds=min_rounds, hooks=hooks)
    return {a: NetworkMeasurement(a, jobs[a].key, jobs[a].onnx_path, jobs[a].library_path, tuple(p),
                                  verdict(p, policy), estimator)
            for a, p in zip(archs, passes)}


def _validated(space: Any, archs: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    from lutnas.spaces import get_space

    space = get_space(space) if isinstance(space, str) else space
    return [space.validate(a) for a in archs]


def measure_for_table(table: Any, archs: Sequence[Sequence[int]], *, runner: Any = None,
                      policy: StabilityPolicy = DEFAULT_POLICY, progress: bool = True,
                      work_dir: Path | None = None, cache_dir: Path | None = None,
                      tuning_db: Path | None = None, min_rounds: int = 0,
                      at_boundary: Callable[[int], None] | None = None,
                      estimator: str | None = None) -> list[NetworkMeasurement]:
    """`measure_archs` with everything the table records: its space, resolution, target, runtime,
    threads, pipeline (and tuning database), width and classes -- networks built as its blocks were,
    summarised with its estimator unless told otherwise."""
    from lutnas.latency_tables.tuned import table_tuning_db
    from lutnas.lowering.targets import target_from_json

    meta = table.meta
    target = target_from_json(meta.target_name, meta.target_json)
    threads = int(getattr(runner, "threads", meta.threads))  # differs only under allow_mismatch
    return measure_archs(meta.space, archs, meta.resolution, target, meta.runtime, threads=threads,
                         pipeline=meta.pipeline, runner=runner, policy=policy, progress=progress,
                         width_mult=float(meta.options.get("width_mult", 1.0)),
                         num_classes=int(meta.options.get("num_classes", 1000)), work_dir=work_dir,
                         cache_dir=cache_dir, tuning_db=tuning_db or table_tuning_db(table),
                         min_rounds=min_rounds, at_boundary=at_boundary, estimator=estimator or table.estimator)
