"""profiler: time compiled blocks and networks into pyperf-style measurement records.

Entry points: `LocalRunner(target, runtime, threads).measure(MeasureJob) -> Measurement`,
`measure_in_rounds(runner, jobs, policy)` (rounds of passes until every verdict is satisfied),
`rounds.measure_interleaved` (cycles of one sample of every job, for whole networks) and
`measure_stable(runner, job, policy)` for one job, `fingerprint()` for the
device a table describes, `compile_many()` to build every library before any timing starts, and
`run_checks()` for `lutnas doctor`. Imports no torch / tvm / onnxruntime at import time.
"""

from lutnas.profiler.fingerprint import fingerprint, fingerprint_id, mismatched_fields
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.rounds import RoundHooks, measure_in_rounds, measure_stable
from lutnas.profiler.runners import LocalRunner, Runner
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, StableResult, Verdict, assess, verdict

__all__ = [
    "DEFAULT_POLICY", "LocalRunner", "MeasureJob", "Measurement", "RoundHooks", "Runner", "StabilityPolicy",
    "StableResult", "Verdict", "assess", "fingerprint", "fingerprint_id", "measure_in_rounds", "measure_stable",
    "mismatched_fields", "verdict",
]
