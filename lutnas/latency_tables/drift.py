"""How much faster or slower the device runs now than when its table was profiled (speed drift).

A shared VM's speed moves by 5-35% over minutes to hours (other tenants, frequency, cache
pressure). A table profiled at one time and networks measured at another then disagree by the
drift, not by any fault of the additive model: measured here, a TVM table and networks timed in
interleaved rounds agreed to 0.6% MAPE, while `profile` followed minutes later by `validate` gave
a -8.9% bias.

The anchors: a few of the table's own entries, re-timed with the table's own job settings right
before and right after the whole networks. They are the slowest entries (the least sensitive to
timer resolution and per-call overhead) but never the head, whose classifier weights make it the
most cache-sensitive entry: in three validations here it moved -14%, +18% and +28% where the
other anchors moved -0.5% to +8%. The median of their ratios now / then is the drift factor, so
one anchor that moves on its own does not set it. Anchors are entries, not the validation archs,
so no held-out information leaks into the correction. Only isolated-block tables can be anchored
this way (an in-network table's entries are not timings of a block alone).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec

DEFAULT_ANCHORS = 4


@dataclass(frozen=True)
class AnchorRow:
    key: str
    table_ms: float     # median of the table's kept samples of this entry
    before_ms: float    # median re-timed just before the networks
    after_ms: float     # ... and just after

    @property
    def ratio(self) -> float:
        return math.sqrt(self.before_ms * self.after_ms) / self.table_ms


@dataclass(frozen=True)
class Drift:
    """factor = now / then (> 1: the device is slower now), the anchors' median ratio; `spread` =
    the anchors' max / min ratio (large: they disagree, and a uniform correction is doubtful)."""

    factor: float
    spread: float
    during: float       # after / before, geometric mean over anchors: drift within the validation
    rows: tuple[AnchorRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "spread": self.spread, "during": self.during,
                "anchors": [{**asdict(r), "ratio": r.ratio} for r in self.rows]}

    def line(self) -> str:
        return (f"device speed vs profiling: x{self.factor:.3f} ({len(self.rows)} anchor entries, "
                f"spread x{self.spread:.3f}, x{self.during:.3f} during validation)")


def anchor_entries(table: LatencyTable, count: int = DEFAULT_ANCHORS) -> dict[str, float]:
    """Key -> median of the table's kept samples, for the `count` slowest measured block entries but
    the head, of an isolated table (none for in-network tables)."""
    if table.meta.options.get("measure_mode", "isolated") != "isolated" or count <= 0:
        return {}
    medians = {d.entry.key: _median([s for p in d.kept for s in p.measurement.samples_ms])
               for d in table.entries() if d.passes and d.entry.role not in ("overhead", "head")}
    return dict(sorted(medians.items(), key=lambda kv: -kv[1])[:count])


def anchor_jobs(table: LatencyTable, keys: Sequence[str], target: TargetSpec, threads: int, work_dir: Path,
                tuning_db: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """MeasureJobs for the anchor entries, built exactly as `profile` built the table's jobs."""
    from lutnas.latency_tables.jobs import block_jobs
    from lutnas.latency_tables.settings import ProfileSettings
    from lutnas.spaces import get_space

    opts = table.meta.options
    settings = ProfileSettings(**{k: opts[k] for k in ("repeats", "min_repeat_ms", "warmup", "width_mult",
                                                       "num_classes") if k in opts})
    layout = get_space(table.meta.space).layer_table(table.meta.resolution, width_mult=settings.width_mult,
                                                     num_classes=settings.num_classes)
    blocks = layout.unique_blocks()
    return block_jobs({k: blocks[k] for k in keys}, runtime=table.meta.runtime, target=target, threads=threads,
                      settings=settings, work_dir=work_dir, pipeline=table.meta.pipeline, progress=progress,
                      tuning_db=tuning_db)


def time_anchors(runner: Any, jobs: dict[str, Any]) -> dict[str, float]:
    """Median latency (ms) of one fresh pass per anchor job."""
    return {k: _median(runner.measure(job).samples_ms) for k, job in jobs.items()}


def drift_from(then: dict[str, float], before: dict[str, float], after: dict[str, float]) -> Drift | None:
    """Pool the anchors' now/then ratios (`then`: `anchor_entries`); None without anchors."""
    if not before:
        return None
    rows = tuple(AnchorRow(k, then[k], before[k], after[k]) for k in before)
    ratios = np.array([r.ratio for r in rows])
    during = float(np.exp(np.mean([math.log(r.after_ms / r.before_ms) for r in rows])))
    return Drift(float(np.median(ratios)), float(ratios.max() / ratios.min()), during, rows)


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))
