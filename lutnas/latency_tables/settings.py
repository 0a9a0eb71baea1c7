"""What a table build is asked to do (`ProfileSettings`) and what it did (`ProfileResult`).

Their own module because every way of filling a table reads them (isolated blocks in `profile`,
in-network blocks in `context`, tuned blocks in `tuned`, jobs in `jobs`) and none of those may
import another just for a record type: that is how import cycles inside the package start.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.latency_tables.stats import DEFAULT_ESTIMATOR
from lutnas.profiler.measurement import DEFAULT_MIN_REPEAT_MS, DEFAULT_REPEATS, DEFAULT_WARMUP

if TYPE_CHECKING:
    from lutnas.profiler.stability import StabilityPolicy

MEASURE_MODE = "isolated"   # each block timed alone, random input of its input shape


@dataclass(frozen=True)
class ProfileSettings:
    """How entries are measured and summarised; all of it is part of the table's identity."""

    repeats: int = DEFAULT_REPEATS
    min_repeat_ms: float = DEFAULT_MIN_REPEAT_MS
    warmup: int = DEFAULT_WARMUP
    estimator: str = DEFAULT_ESTIMATOR
    width_mult: float = 1.0
    num_classes: int = 1000
    measure_mode: str = MEASURE_MODE
    extra: dict[str, Any] = field(default_factory=dict)   # e.g. tuning records (issue 6)

    def options(self, policy: StabilityPolicy) -> dict[str, Any]:
        out = asdict(self)
        out["policy"] = asdict(policy)
        return out


@dataclass(frozen=True)
class ProfileResult:
    table_id: str
    db_path: Path
    entries: int            # entries in the table
    measured: int           # entries that got at least one pass in this run
    skipped: int            # entries left alone (already finished)
    passes: int             # passes added in this run
    unstable: int           # entries whose verdict is still unstable after this run
    compile_s: float
    measure_s: float

    def line(self) -> str:
        return (f"entries {self.entries}: measured {self.measured} ({self.passes} pass(es)), skipped {self.skipped}, "
                f"unstable {self.unstable}; compile {self.compile_s:.1f} s, measure {self.measure_s:.1f} s")
