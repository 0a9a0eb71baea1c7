"""One built network timed at the speed its table was profiled at: the export's predicted-against-measured.

`lutnas export --db` records the table's prediction and times the artifact. On a machine whose speed
moves by 10-30% over minutes the two numbers are taken at different speeds: the demo's export read
predicted 1.057 ms against measured 0.870 ms (+21%) on 2026-12-06, and `validate` of the same arch
minutes later, round-corrected, put the table at +6.7% (docs/measurements/host-features-and-stack-
tiles-2026-12-06.md, section 7). So the artifact is also timed as validation times its networks:
interleaved cycles of one sample, the table's drift anchors (`drift.anchors_for`) re-timed at every
cycle boundary, every sample divided by the drift of its own cycle. The raw median of the same series
is kept beside the corrected one, and the prediction's error is given against the corrected one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.latency_tables.drift import BoundaryTimer, SpeedTrack, anchors_for
from lutnas.profiler.rounds import INTERLEAVED_CYCLES, RoundHooks, measure_interleaved

if TYPE_CHECKING:
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.runners import Runner


@dataclass(frozen=True)
class AnchoredLatency:
    """A network's latency now (`raw_ms`) and at the table's profiling speed (`corrected_ms`)."""

    raw_ms: float
    corrected_ms: float
    track: SpeedTrack
    cycles: int

    def error(self, predicted_ms: float) -> float:
        """The prediction's signed relative error against the corrected latency (+: over-predicts)."""
        return predicted_ms / self.corrected_ms - 1.0

    def to_dict(self, predicted_ms: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "latency_ms": self.corrected_ms, "raw_ms": self.raw_ms, "cycles": self.cycles,
            "device_speed_factor": self.track.overall, "correction_spread": self.track.spread,
            "anchors": len(self.track.then), "anchor_method": self.track.method,
            "anchors_disagree": self.track.disagreement,
        }
        if predicted_ms is not None:
            out["predicted_error"] = self.error(predicted_ms)
        return out

    def line(self, predicted_ms: float | None = None) -> str:
        error = "" if predicted_ms is None else f"; predicted {self.error(predicted_ms):+.1%} against it"
        return (f"at the table's profiling speed: {self.corrected_ms:.4f} ms (raw {self.raw_ms:.4f} ms in the same "
                f"{self.cycles} cycles, with {len(self.track.then)} anchor(s) at x{self.track.overall:.3f} their "
                f"latency when profiled: {self.track.method}){error}")


def time_at_table_speed(table: LatencyTable, job: MeasureJob, runner: Runner, target: TargetSpec, *,
                        work_dir: Path, cycles: int = INTERLEAVED_CYCLES, anchors: int | None = None,
                        tuning_db: Path | None = None, progress: bool = False) -> AnchoredLatency | None:
    """`job` timed in `cycles` interleaved cycles with the table's anchors at every boundary, corrected
    cycle by cycle; None when the table has no anchors or the runner cannot hold one device for the
    series (a tracker farm)."""
    from lutnas.latency_tables.stats import estimates

    anchor_set = anchors_for(table, anchors, runner=runner, target=target, threads=runner.threads,
                             work_dir=work_dir, tuning_db=tuning_db, progress=progress)
    if anchor_set is None:
        return None
    timer = BoundaryTimer(anchor_set)
    passes = measure_interleaved(runner, [job], cycles, hooks=RoundHooks(at_boundary=timer))
    track = timer.track()
    if passes is None or track is None:
        return None
    raw, corrected = passes[0], track.corrected(passes[0])
    raw_ms, corrected_ms = estimates([[raw.samples_ms], [corrected.samples_ms]], table.estimator)
    return AnchoredLatency(float(raw_ms), float(corrected_ms), track, cycles)
