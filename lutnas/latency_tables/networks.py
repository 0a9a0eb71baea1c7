"""Whole-network measurement: the ground truth a latency table is validated against.

nn-Meter (Zhang et al., MobiSys 2021) and the ProxylessNAS / FBNet papers judge a latency LUT by
comparing its sum-of-blocks prediction with the measured latency of complete networks. The
comparison is only honest when both sides are timed the same way, so a network here goes through
exactly the path a table entry goes through (`jobs`: export to ONNX, compile every library first in
worker processes, never timing while compiling), then time the networks with a `profiler` runner
interleaved (`profiler.rounds.measure_interleaved`: cycles of one sample of every network, so all of
them share each time window), keeping every sample. A network's latency is the table's estimator
over its kept passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.latency_tables.jobs import network_jobs
from lutnas.latency_tables.stats import DEFAULT_ESTIMATOR, check_estimator, estimates
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.rounds import INTERLEAVED_CYCLES, RoundHooks, measure_in_rounds, measure_interleaved
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, Verdict, verdict
from lutnas.progress import ProgressBar

if TYPE_CHECKING:
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import Runner
    from lutnas.spaces import SearchSpace

DEFAULT_ROUNDS = INTERLEAVED_CYCLES   # measure and validate: cycles of one sample of every network
FARM_ROUNDS = 3   # on a device farm (no interleaving): rounds of passes


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
            "cycles": sum(len(p.meta.get("sample_rounds", ())) for p in self.passes),   # interleaved samples
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
    setup = NetworkSetup.checked(space, archs, resolution, target, runtime, threads, runner, policy, estimator)
    unique = list(dict.fromkeys(setup.archs))
    jobs = network_jobs(setup.space, unique, setup.resolution, setup.target, runtime, threads=threads,
                        pipeline=pipeline, width_mult=width_mult, num_classes=num_classes, work_dir=work_dir,
                        cache_dir=cache_dir, workers=workers, tuning_db=tuning_db, progress=progress)
    timed = time_networks(setup.runner, dict(zip(unique, jobs)), policy, min_rounds=min_rounds,
                          at_boundary=at_boundary, estimator=estimator, progress=progress)
    return [timed[a] for a in setup.archs]


@dataclass(frozen=True)
class NetworkSetup:
    """The checked inputs of a whole-network measurement (`measure_archs`, `network_run.measure_networks`)."""

    space: SearchSpace
    archs: list[tuple[int, ...]]
    resolution: int
    target: TargetSpec
    runner: Runner

    @classmethod
    def checked(cls, space: str | SearchSpace, archs: Sequence[Sequence[int]], resolution: int,
                target: str | TargetSpec, runtime: str, threads: int, runner: Runner | None,
                policy: StabilityPolicy, estimator: str) -> NetworkSetup:
        """Resolve names and refuse bad input (`LutnasError`) before anything is compiled."""
        from lutnas.lowering.targets import resolve_target
        from lutnas.profiler.runners import LocalRunner
        from lutnas.spaces import resolve_space

        check_estimator(estimator)
        space, target = resolve_space(space), resolve_target(target)
        resolution = space.check_resolution(resolution)
        archs = [space.validate(a) for a in archs]
        if runner is None:  # made first: a device that cannot run the libraries is refused before compiling
            runner = LocalRunner(target, runtime, threads, policy)
        return cls(space, archs, resolution, target, runner)


def time_networks(runner: Runner, jobs: dict[tuple[int, ...], MeasureJob], policy: StabilityPolicy = DEFAULT_POLICY,
                  *, min_rounds: int = 0, at_boundary: Callable[[int], None] | None = None,
                  estimator: str = DEFAULT_ESTIMATOR, progress: bool = True,
                  label: str = "measuring networks") -> dict[tuple[int, ...], NetworkMeasurement]:
    """Time compiled networks whole (`time_whole`), one `NetworkMeasurement` per arch."""
    archs = list(jobs)
    passes = time_whole(runner, [jobs[a] for a in archs], policy, min_rounds=min_rounds, at_boundary=at_boundary,
                        progress=progress, label=label)
    return {a: NetworkMeasurement(a, jobs[a].key, jobs[a].onnx_path, jobs[a].library_path, tuple(p),
                                  verdict(p, policy), estimator)
            for a, p in zip(archs, passes)}


def time_whole(runner: Runner, jobs: Sequence[MeasureJob], policy: StabilityPolicy = DEFAULT_POLICY, *,
               min_rounds: int = 0, at_boundary: Callable[[int], None] | None = None, progress: bool = True,
               label: str = "measuring networks") -> list[list[Measurement]]:
    """Per job its passes, timed interleaved: `min_rounds` (default `DEFAULT_ROUNDS`) cycles of one
    sample of every job (`profiler.rounds.measure_interleaved`), one pass per job holding its
    samples; `at_boundary(k)` at every cycle boundary. A device farm cannot interleave on one board:
    there the jobs take passes in rounds (`measure_in_rounds`, `FARM_ROUNDS`). Whole networks and
    whole ONNX models (`kernel_validate.measure_models`) are timed with it."""
    jobs = list(jobs)
    cycles = min_rounds or DEFAULT_ROUNDS
    with ProgressBar(label, cycles, enabled=progress, stderr=True) as bar:
        def on_cycle(r: int, n: int) -> None:
            bar.advance(int(r > 1))
            bar.describe(f"{label} (cycle {r} of {cycles}, {n} job(s) interleaved)")

        interleaved = measure_interleaved(runner, jobs, cycles, policy,
                                          hooks=RoundHooks(at_boundary=at_boundary, on_round=on_cycle))
        bar.advance()
    if interleaved is not None:
        return [[m] for m in interleaved]
    with ProgressBar(label, len(jobs), enabled=progress, stderr=True) as bar:   # a farm: passes in rounds
        hooks = RoundHooks(at_boundary=at_boundary, on_settled=lambda i: bar.advance(),
                           on_round=lambda r, n: bar.describe(f"{label} (round {r}, {n} job(s))"))
        return measure_in_rounds(runner, jobs, policy, min_rounds=min(cycles, FARM_ROUNDS), hooks=hooks)


def measure_for_table(table: LatencyTable, archs: Sequence[Sequence[int]], *, runner: Runner | None = None,
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
    threads = meta.threads if runner is None else runner.threads  # differs only under allow_mismatch
    return measure_archs(meta.space, archs, meta.resolution, target, meta.runtime, threads=threads,
                         pipeline=meta.pipeline, runner=runner, policy=policy, progress=progress,
                         width_mult=float(meta.options.get("width_mult", 1.0)),
                         num_classes=int(meta.options.get("num_classes", 1000)), work_dir=work_dir,
                         cache_dir=cache_dir, tuning_db=tuning_db or table_tuning_db(table),
                         min_rounds=min_rounds, at_boundary=at_boundary, estimator=estimator or table.estimator)


def table_network_jobs(table: LatencyTable, archs: Sequence[Sequence[int]], *, threads: int | None = None,
                       work_dir: Path | None = None, tuning_db: Path | None = None,
                       progress: bool = False) -> list[MeasureJob]:
    """MeasureJobs of whole networks built as the table's blocks were (space, resolution, target,
    runtime, pipeline and tuning database, width, classes), compiled if needed."""
    from lutnas.latency_tables.tuned import table_tuning_db
    from lutnas.lowering.targets import target_from_json
    from lutnas.spaces import get_space

    meta = table.meta
    return network_jobs(get_space(meta.space), [tuple(int(c) for c in a) for a in archs], meta.resolution,
                        target_from_json(meta.target_name, meta.target_json), meta.runtime,
                        threads=meta.threads if threads is None else threads, pipeline=meta.pipeline,
                        width_mult=float(meta.options.get("width_mult", 1.0)),
                        num_classes=int(meta.options.get("num_classes", 1000)), work_dir=work_dir,
                        tuning_db=tuning_db or table_tuning_db(table), progress=progress)
