"""Runners: where a `MeasureJob` is timed. Local now; TVM RPC and tracker pools plug in later.

A runner has two methods (`Runner` protocol): `measure(job) -> Measurement` and `describe() -> dict`,
the fingerprint of the device its measurements describe. The timing loops live in `harness`, which
only needs a runtime module and a device, so a runner is just "how to get those":

- `LocalRunner`: `tvm.runtime.load_module(library)` on `tvm.cpu()` / `tvm.cuda()`, or an
  onnxruntime session, in this process.
- `RPCRunner` (lutnas/profiler/rpc.py, not here): `remote.upload(library)`,
  `lib = remote.load_module(name)`, `dev = remote.cpu()`, then the same `harness.time_tvm(lib, dev,
  job)`; its `describe()` passes the board's CPU name and `emulated=` explicitly to `fingerprint()`.
  A tracker-backed pool is a `Runner` whose `measure` borrows a free remote per job.

A runner is configured for one (target, runtime, threads) and refuses jobs that ask for others, so
`describe()` always describes the measurements it returned.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lutnas.errors import DeviceError
from lutnas.profiler import harness, tvm_runtime
from lutnas.profiler.fingerprint import fingerprint
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, assess
from lutnas.profiler.timing_lock import LOCAL, timing_lock


@runtime_checkable
class Runner(Protocol):
    def measure(self, job: MeasureJob) -> Measurement: ...

    def describe(self) -> dict[str, Any]: ...


class LocalRunner:
    """Times jobs in this process. The TVM thread pool size is fixed at its first use by
    TVM_NUM_THREADS, so the runner sets it (if unset) and refuses to time when it differs."""

    def __init__(
        self,
        target: Any = "x86",
        runtime: str = "tvm",
        threads: int = 1,
        policy: StabilityPolicy = DEFAULT_POLICY,
    ) -> None:
        self.target = _target_spec(target)
        self.runtime = runtime
        self.threads = int(threads)
        self.policy = policy
        self._loaded: dict[tuple[str, float], Any] = {}
        if runtime == "tvm":
            os.environ.setdefault("TVM_NUM_THREADS", str(self.threads))
            runnable, why = self.target.runnable_here()
            if not runnable:
                raise DeviceError(f"cannot time {self.target.name} libraries on this machine: {why} "
                                  "(time them on a device that can: --rpc HOST:PORT or --tracker HOST:PORT --key KEY)")

    def measure(self, job: MeasureJob) -> Measurement:
        name = getattr(self.target, "name", job.target)
        if (job.runtime, job.threads, job.target) != (self.runtime, self.threads, name):
            raise DeviceError(
                f"job {job.key!r} asks for {job.runtime}/{job.target} with {job.threads} thread(s); "
                f"this runner measures {self.runtime}/{name} with {self.threads}"
            )
        if job.runtime == "tvm":
            check_tvm_threads(self.threads)
            lib, dev = self._tvm_module(job)
            with timing_lock(LOCAL):
                m = harness.time_tvm(lib, dev, job)
        else:
            session = self._ort_session(job)
            with timing_lock(LOCAL):
                m = harness.time_ort(session, job)
        return assess(m, self.policy)

    def describe(self) -> dict[str, Any]:
        return fingerprint(self.target, self.runtime, self.threads)

    def close(self) -> None:
        self._loaded.clear()

    # -- loading -----------------------------------------------------------------------------------
    def _cached(self, path: Path, load: Any) -> Any:
        if not path.is_file():
            raise DeviceError(f"cannot measure: {path} does not exist")
        key = (str(path.resolve()), path.stat().st_mtime)
        if key not in self._loaded:
            self._loaded[key] = load(path)
        return self._loaded[key]

    def _tvm_module(self, job: MeasureJob) -> tuple[Any, Any]:
        kind = getattr(self.target, "device_type", "cpu")
        lib = self._cached(job.library_path, lambda path: tvm_runtime.load_module(path, kind))
        try:
            dev = tvm_runtime.device_for(kind)
        except DeviceError:
            raise DeviceError(f"no {kind} device here to time {job.key!r}") from None
        return lib, dev

    def _ort_session(self, job: MeasureJob) -> Any:
        from lutnas.lowering.ort import ort_session

        def load(path: Path) -> Any:
            return ort_session(path, self.threads)

        return self._cached(job.onnx_path, load)


def check_tvm_threads(threads: int) -> int:
    """Raise unless TVM's CPU thread pool has `threads` workers; returns the pool size."""
    import tvm

    actual = int(tvm.runtime.num_threads())
    if actual != threads:
        raise DeviceError(
            f"TVM's thread pool runs {actual} thread(s) but {threads} were asked; "
            f"start the process with TVM_NUM_THREADS={threads}"
        )
    return actual


def _target_spec(target: Any) -> Any:
    """A lowering TargetSpec from a name (specs and dicts pass through)."""
    if isinstance(target, str):
        from lutnas.lowering.targets import get_target

        return get_target(target)
    return target

