"""Whole-network measurement: the ground truth a latency table is validated against.

nn-Meter (Zhang et al., MobiSys 2021) and the ProxylessNAS / FBNet papers judge a latency LUT by
comparing its sum-of-blocks prediction with the measured latency of complete networks. The
comparison is only honest when both sides are timed the same way, so a network here goes through
exactly the path a table entry goes through (`jobs`: export to ONNX, compile every library first in
worker processes, never timing while compiling), then time each network with a `profiler` runner and the same stability policy, re-measuring
unstable networks in later passes (not back to back) and keeping every pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.latency_tables.jobs import network_jobs
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, Verdict, assess, verdict
from lutnas.progress import ProgressBar

if TYPE_CHECKING:
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import Runner
    from lutnas.spaces import SearchSpace


@dataclass(frozen=True)
class NetworkMeasurement:
    """Every pass of one whole network, with the stability verdict over them."""

    arch: tuple[int, ...]
    key: str
    onnx_path: Path
    library_path: Path | None
    passes: tuple[Measurement, ...]
    verdict: Verdict

    @property
    def latency_ms(self) -> float:
        """Pooled median of the passes that were stable alone (all passes if none was)."""
        return self.verdict.median_ms

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
            "samples_ms": self.samples_ms,
            "passes": len(self.passes),
            "unstable": self.unstable,
            "unstable_reason": self.verdict.reason,
            "unstable_passes": sum(p.unstable for p in self.passes),
            "inner_loops": [p.inner_loops for p in self.passes],
            "key": self.key,
        }


def measure_archs(
    space: str | SearchSpace,
    archs: Sequence[Sequence[int]],
    resolution: int,
    target: str | TargetSpec,
    runtime: str,
    *,
    threads: int = 1,
    pipeline: str = DEFAULT_PIPELINE,
    runner: Runner | None = None,
    policy: StabilityPolicy = DEFAULT_POLICY,
    progress: bool = True,
    width_mult: float = 1.0,
    num_classes: int = 1000,
    work_dir: Path | None = None,
    cache_dir: Path | None = None,
    workers: int = 2,
    tuning_db: Path | None = None,
    before_timing: Callable[[], None] | None = None,
) -> list[NetworkMeasurement]:
    """Compile (tvm) and time each whole network; one result per arch, in input order.

    `space` is a SearchSpace or its name, `target` a TargetSpec or name. `runner` is any profiler
    `Runner` (local by default; RPC / tracker runners time remotely); it must be configured for
    (target, runtime, threads). Unstable networks get later passes up to `policy.max_passes`.
    `tuning_db`: the MetaSchedule database a tuned pipeline (`lutnas-cpu+tuned:<hash>`) applies.
    `before_timing` runs after every network is compiled and right before the first is timed
    (validate times its drift anchors there).
    """
    from lutnas.lowering.targets import resolve_target
    from lutnas.profiler.runners import LocalRunner
    from lutnas.spaces import resolve_space

    space, target = resolve_space(space), resolve_target(target)
    resolution = space.check_resolution(resolution)
    archs = [space.validate(a) for a in archs]
    if runner is None:  # made first: a device that cannot run the libraries is refused before compiling
        from lutnas.profiler.runners import LocalRunner

        runner = LocalRunner(target, runtime, threads, policy)
    unique = list(dict.fromkeys(archs))
    jobs = network_jobs(space, unique, resolution, target, runtime, threads=threads, pipeline=pipeline,
                        width_mult=width_mult, num_classes=num_classes, work_dir=work_dir, cache_dir=cache_dir,
                        workers=workers, tuning_db=tuning_db, progress=progress)
    runner = runner or LocalRunner(target, runtime, threads, policy)
    if before_timing is not None:
        before_timing()
    passes = measure_in_passes(runner, jobs, policy, progress=progress, label="measuring networks")
    by_arch = {
        a: NetworkMeasurement(a, j.key, j.onnx_path, j.library_path, tuple(p), verdict(p, policy))
        for a, j, p in zip(unique, jobs, passes)
    }
    return [by_arch[a] for a in archs]


def measure_for_table(table: LatencyTable, archs: Sequence[Sequence[int]], *, runner: Runner | None = None,
                      policy: StabilityPolicy = DEFAULT_POLICY, progress: bool = True,
                      work_dir: Path | None = None, cache_dir: Path | None = None,
                      tuning_db: Path | None = None,
                      before_timing: Callable[[], None] | None = None) -> list[NetworkMeasurement]:
    """`measure_archs` with everything the table records: its space, resolution, target, runtime,
    threads, pipeline (and tuning database), width and classes -- networks built as its blocks were."""
    from lutnas.latency_tables.tuned import table_tuning_db
    from lutnas.lowering.targets import target_from_json

    meta = table.meta
    target = target_from_json(meta.target_name, meta.target_json)
    threads = meta.threads if runner is None else runner.threads  # differs only under allow_mismatch
    return measure_archs(meta.space, archs, meta.resolution, target, meta.runtime, threads=threads,
                         pipeline=meta.pipeline, runner=runner, policy=policy, progress=progress,
                         width_mult=float(meta.options.get("width_mult", 1.0)),
                         num_classes=int(meta.options.get("num_classes", 1000)), work_dir=work_dir,
                         cache_dir=cache_dir, tuning_db=tuning_db or table_tuning_db(table),
                         before_timing=before_timing)


def measure_in_passes(
    runner: Any,
    jobs: Sequence[MeasureJob],
    policy: StabilityPolicy = DEFAULT_POLICY,
    *,
    progress: bool = True,
    label: str = "measuring",
    on_pass: Callable[[int, Measurement], None] | None = None,
) -> list[list[Measurement]]:
    """Pass 1 over every job, then later passes over only the jobs whose verdict needs more.

    Re-measuring a job after the others (not back to back) spreads bursty noise of a shared machine
    over the passes; every pass is kept and returned, per job in input order.
    """
    passes: list[list[Measurement]] = [[] for _ in jobs]
    todo = list(range(len(jobs)))
    with ProgressBar(label, len(jobs), enabled=progress, stderr=True) as bar:

        def record(i: int, m: Measurement) -> None:
            m = assess(_with_pass(m, len(passes[i]) + 1), policy)
            passes[i].append(m)
            if on_pass is not None:
                on_pass(i, m)
            if not verdict(passes[i], policy).needs_more:
                bar.advance()

        while todo:
            if hasattr(runner, "measure_many"):  # a device farm spreads one round over its boards
                for i, m in zip(todo, runner.measure_many([jobs[i] for i in todo])):
                    record(i, m)
            else:
                for i in todo:
                    record(i, runner.measure(jobs[i]))
            todo = [i for i in todo if verdict(passes[i], policy).needs_more]
    return passes


def _with_pass(m: Measurement, pass_no: int) -> Measurement:
    from dataclasses import replace

    return replace(m, pass_no=pass_no)
