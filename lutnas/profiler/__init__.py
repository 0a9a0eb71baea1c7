"""profiler: time compiled blocks and networks into pyperf-style measurement records.

Entry points: `LocalRunner(target, runtime, threads).measure(MeasureJob) -> Measurement`,
`measure_stable(runner, job, policy)` for re-measured passes with a verdict, `fingerprint()` for the
device a table describes, `compile_many()` to build every library before any timing starts, and
`run_checks()` for `lutnas doctor`. Imports no torch / tvm / onnxruntime at import time.
"""

from lutnas.profiler.fingerprint import fingerprint, fingerprint_id, mismatched_fields
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.runners import LocalRunner, Runner
from lutnas.profiler.stability import (
    DEFAULT_POLICY,
    StabilityPolicy,
    StableResult,
    Verdict,
    assess,
    measure_stable,
    verdict,
)

__all__ = [
    "DEFAULT_POLICY", "LocalRunner", "MeasureJob", "Measurement", "Runner", "StabilityPolicy",
    "StableResult", "Verdict", "assess", "fingerprint", "fingerprint_id", "measure_stable",
    "mismatched_fields", "verdict",
]
