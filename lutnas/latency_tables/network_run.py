"""`lutnas measure`: whole networks timed in rounds against a fixed reference network.

Absolute latency does not repeat on a shared VM (six onnxruntime networks timed twice 2.5 minutes
apart here all ran 21-26% slower the second time); the ratio of two networks timed in the same
rounds does (it moved 1-4%). So `measure` times a **reference network** -- one fixed arch of the
space, the same in every run (`reference_arch`) -- at every boundary of the networks' interleaved
cycles (`profiler.rounds.measure_interleaved`), and gives each network also as a ratio to the
reference at the time of each of its samples (`drift.SpeedTrack` with `then` = 1 ms). It reports the test-retest spread it observed
between its odd and even cycles, raw and as ratios (`repeatability.Retest`), so a user sees which
of the two repeats on their machine. Every pass keeps its raw samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.latency_tables.drift import BoundaryTimer, JobAnchors, SpeedTrack
from lutnas.latency_tables.jobs import network_jobs
from lutnas.latency_tables.networks import DEFAULT_ROUNDS, NetworkMeasurement, NetworkSetup, time_networks
from lutnas.latency_tables.repeatability import GroundTruth, ground_truth
from lutnas.latency_tables.stats import DEFAULT_ESTIMATOR
from lutnas.profiler.rounds import one_sample
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy

if TYPE_CHECKING:
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import Runner
    from lutnas.spaces import SearchSpace

REFERENCE_SEED = 0x5EED   # the reference arch: one fixed sample of the space


def reference_arch(space: SearchSpace) -> tuple[int, ...]:
    """The space's reference network: the same arch in every run, on every machine."""
    return space.sample(np.random.default_rng(REFERENCE_SEED))


@dataclass(frozen=True)
class NetworkRun:
    """Networks timed in rounds, with the reference's latency at every round boundary."""

    networks: list[NetworkMeasurement]
    reference: tuple[int, ...] | None
    track: SpeedTrack | None          # factors = the reference's latency (ms) at each boundary

    @cached_property
    def truth(self) -> GroundTruth:
        """Raw latencies, ratios to the reference (`corrected_ms`), and the retest spread of each."""
        return ground_truth(self.networks, self.track)

    def ratio(self, i: int) -> float | None:
        return None if self.truth.corrected_ms is None else float(self.truth.corrected_ms[i])

    def lines(self) -> list[str]:
        """What repeated between the halves of the cycles: raw latency, and ratios to the reference."""
        t = self.truth
        out = [f"repeatability (odd vs even cycles), raw latency: {t.raw_retest.line()}"]
        if self.track is not None and t.corrected_retest is not None:
            ref = self.track.boundary_factors()
            out.insert(0, f"reference {list(self.reference)}: {np.median(ref):.4g} ms (median of "
                          f"{ref.size} timings at round boundaries, moved x{self.track.spread:.3f} during the run)")
            out.append(f"repeatability (odd vs even cycles), ratio to the reference: {t.corrected_retest.line()}")
        return out

    def rows(self) -> list[dict[str, Any]]:
        """JSON rows: every network's record with its ratio to the reference and per-round values."""
        return [{**m.to_dict(), "ratio_to_reference": self.ratio(i), "passes_ms": self.truth.raw_passes[i]}
                for i, m in enumerate(self.networks)]


def measure_networks(space: str | SearchSpace, archs: Sequence[Sequence[int]], resolution: int,
                     target: str | TargetSpec, runtime: str, *, threads: int = 1, runner: Runner | None = None,
                     policy: StabilityPolicy = DEFAULT_POLICY, rounds: int = DEFAULT_ROUNDS, reference: bool = True,
                     estimator: str = DEFAULT_ESTIMATOR, progress: bool = True, **build: Any) -> NetworkRun:
    """Compile and time `archs` in at least `rounds` rounds, the reference timed at every boundary.

    `build`: keyword arguments of `jobs.network_jobs` (pipeline, width_mult, num_classes,
    work_dir, cache_dir, workers, tuning_db).
    """
    setup = NetworkSetup.checked(space, archs, resolution, target, runtime, threads, runner, policy, estimator)
    archs = setup.archs
    ref = reference_arch(setup.space) if reference else None
    unique = list(dict.fromkeys([*archs, *([ref] if ref is not None else [])]))
    jobs = dict(zip(unique, network_jobs(setup.space, unique, setup.resolution, setup.target, runtime,
                                         threads=threads, progress=progress, **build)))
    timer = None
    if ref is not None:
        key = jobs[ref].key
        timer = BoundaryTimer(JobAnchors({key: 1.0}, {key: jobs[ref]}, one_sample(setup.runner), estimator,
                                         "reference network"))
    timed = time_networks(setup.runner, {a: jobs[a] for a in dict.fromkeys(archs)}, policy, min_rounds=rounds,
                          at_boundary=timer, estimator=estimator, progress=progress)
    return NetworkRun([timed[a] for a in archs], ref, timer.track() if timer is not None else None)
