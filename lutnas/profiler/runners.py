"""Runners: where a `MeasureJob` is timed. `LocalRunner` here; TVM RPC and tracker runners in rpc.py.

Every runner implements the `Runner` protocol, which declares all that callers use, so no caller
probes a runner for what it can do. The timing loops live in `harness`, which only needs a
runtime module and a device, so a runner is just "how to get those":

- `LocalRunner`: `tvm.runtime.load_module(library)` on `tvm.cpu()` / `tvm.cuda()`, or an
  onnxruntime session, in this process.
- `RPCRunner` (lutnas/profiler/rpc.py): `remote.upload(library)`, `lib = remote.load_module(name)`,
  `dev = remote.cpu()`, then the same `harness.time_tvm(lib, dev, job)`; its `describe()` passes
  the board's CPU name and `emulated=` explicitly to `fingerprint()`. `TrackerRunner` borrows a
  free board per job and spreads `measure_many` over every board.

A runner is configured for one (target, runtime, threads) and refuses jobs that ask for others, so
`describe()` always describes the measurements it returned.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from lutnas.errors import DeviceError
from lutnas.lowering.targets import TargetSpec, resolve_target
from lutnas.profiler import harness, tvm_runtime
from lutnas.profiler.fingerprint import fingerprint
from lutnas.profiler.kernel_timing import (
    CACHE_MODES,
    KernelJob,
    ModelReplay,
    check_kernel_job,
    time_kernel,
    time_kernel_in_model,
)
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, assess
from lutnas.profiler.timing_lock import LOCAL, timing_lock

if TYPE_CHECKING:
    import numpy as np

OnResult = Callable[[MeasureJob, Measurement], None]
Loaded = TypeVar("Loaded")


@runtime_checkable
class Runner(Protocol):
    """What every runner offers; configured for one (target, runtime, threads)."""

    threads: int     # the runtime's thread count: jobs must ask for exactly this many
    interleaves: bool   # jobs can share one device's time windows (`sampler` never None); not a farm

    @property
    def name(self) -> str:
        """What a table records as the runner of each pass it measured."""

    @property
    def where(self) -> str:
        """The device in words, for reports and errors ("local", "HOST:PORT", a tracker and key)."""

    def measure(self, job: MeasureJob) -> Measurement:
        """One pass of `job` (assessed for stability)."""

    def measure_many(self, jobs: Sequence[MeasureJob], on_result: OnResult | None = None) -> list[Measurement]:
        """One pass of each job, in order of `jobs`; `on_result(job, m)` in the caller's thread as
        each arrives (a farm measures concurrently, so results may arrive in any order)."""

    def run_once(self, job: MeasureJob, x: np.ndarray) -> np.ndarray:
        """Run the job's module once on input `x`; its first output."""

    def measure_kernel(self, job: KernelJob) -> Measurement:
        """One pass of one fused kernel timed alone in its kernel library (`profiler.kernel_timing`)."""

    def kernel_cache_modes(self) -> tuple[str, ...]:
        """How it can time kernels (`kernel_timing.CACHE_MODES`), its default first; may ask the device."""

    def sampler(self, job: MeasureJob) -> harness.Sampler | None:
        """`job` loaded, warmed and calibrated on this runner's one device, for interleaved timing
        (`rounds.measure_interleaved`); None where jobs do not share one device (a tracker's farm)."""

    def holding(self) -> AbstractContextManager[object]:
        """The device's timing lock, held across a series of samples (re-entrant)."""

    def describe(self) -> dict[str, Any]:
        """The fingerprint of the device the measurements describe."""

    def close(self) -> None:
        """Let go of loaded modules and sessions."""


def measure_in_turn(runner: Runner, jobs: Sequence[MeasureJob], on_result: OnResult | None = None
                    ) -> list[Measurement]:
    """`measure_many` for a runner with one device: the jobs one after another."""
    out = []
    for job in jobs:
        m = runner.measure(job)
        if on_result is not None:
            on_result(job, m)
        out.append(m)
    return out


class LocalRunner:
    """Times jobs in this process. The TVM thread pool size is fixed at its first use by
    TVM_NUM_THREADS, so the runner sets it (if unset) and refuses to time when it differs."""

    name = "LocalRunner"
    where = "local"
    interleaves = True

    def __init__(
        self,
        target: str | TargetSpec = "x86",
        runtime: str = "tvm",
        threads: int = 1,
        policy: StabilityPolicy = DEFAULT_POLICY,
    ) -> None:
        self.target = resolve_target(target)
        self.runtime = runtime
        self.threads = int(threads)
        self.policy = policy
        self._loaded: dict[tuple[str, float], Any] = {}
        self._replay: ModelReplay | None = None
        if runtime == "tvm":
            os.environ.setdefault("TVM_NUM_THREADS", str(self.threads))
            runnable, why = self.target.runnable_here()
            if not runnable:
                raise DeviceError(f"cannot time {self.target.name} libraries on this machine: {why} "
                                  "(time them on a device that can: --rpc HOST:PORT or --tracker HOST:PORT --key KEY)")

    def measure(self, job: MeasureJob) -> Measurement:
        self._check_job(job)
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

    def sampler(self, job: MeasureJob) -> harness.Sampler:
        self._check_job(job)
        with timing_lock(LOCAL):
            if job.runtime == "tvm":
                check_tvm_threads(self.threads)
                return harness.tvm_sampler(*self._tvm_module(job), job)
            return harness.ort_sampler(self._ort_session(job), job)

    def holding(self) -> AbstractContextManager[object]:
        return timing_lock(LOCAL)

    def kernel_cache_modes(self) -> tuple[str, ...]:
        return CACHE_MODES

    def measure_kernel(self, job: KernelJob) -> Measurement:
        """Time one kernel of a kernel library, inside its model's loop or alone (`profiler.kernel_timing`)."""
        check_kernel_job(job, self.runtime, self.target.name, self.threads)
        check_tvm_threads(self.threads)
        lib, dev = self._library_on_device(job.library_path, f"kernel {job.key}")
        with timing_lock(LOCAL):
            if job.model is not None and job.cache_mode == "in-model":
                m = time_kernel_in_model(job, self._replay_of(job.model, lib, dev))
            else:
                m = time_kernel(lib, dev, job)
        return assess(m, self.policy)

    def _replay_of(self, model: MeasureJob, kernel_lib: Any, dev: Any) -> ModelReplay:
        """The model's captured run (`kernel_timing.ModelReplay`); one model's buffers held at a time."""
        self._check_job(model)
        path = Path(str(model.library_path))
        if self._replay is None or self._replay.library_path != path:
            self._replay = None
            self._replay = ModelReplay.capture(self._tvm_module(model)[0], kernel_lib, dev, model)
        return self._replay

    def measure_many(self, jobs: Sequence[MeasureJob], on_result: OnResult | None = None) -> list[Measurement]:
        return measure_in_turn(self, jobs, on_result)

    def run_once(self, job: MeasureJob, x: np.ndarray) -> np.ndarray:
        self._check_job(job)
        if job.runtime == "tvm":
            return tvm_runtime.run_main(*self._tvm_module(job), x)
        return self._ort_session(job).run(None, {job.input_name: x})[0]

    def describe(self) -> dict[str, Any]:
        return fingerprint(self.target, self.runtime, self.threads)

    def close(self) -> None:
        self._loaded.clear()
        self._replay = None

    def _check_job(self, job: MeasureJob) -> None:
        if (job.runtime, job.threads, job.target) != (self.runtime, self.threads, self.target.name):
            raise DeviceError(
                f"job {job.key!r} asks for {job.runtime}/{job.target} with {job.threads} thread(s); "
                f"this runner measures {self.runtime}/{self.target.name} with {self.threads}"
            )

    # -- loading -----------------------------------------------------------------------------------
    def _cached(self, path: Path | None, load: Callable[[Path], Loaded]) -> Loaded:
        if path is None or not path.is_file():
            raise DeviceError(f"cannot measure: {path} does not exist")
        key = (str(path.resolve()), path.stat().st_mtime)
        if key not in self._loaded:
            self._loaded[key] = load(path)
        return self._loaded[key]

    def _tvm_module(self, job: MeasureJob) -> tuple[Any, Any]:
        return self._library_on_device(job.library_path, repr(job.key))

    def _library_on_device(self, library_path: Path | None, what: str) -> tuple[Any, Any]:
        """(loaded library, device) for timing `what`; `DeviceError` where this machine has no such device."""
        kind = self.target.device_type
        lib = self._cached(library_path, lambda path: tvm_runtime.load_module(path, kind))
        try:
            dev = tvm_runtime.device_for(kind)
        except DeviceError:
            raise DeviceError(f"no {kind} device here to time {what}") from None
        return lib, dev

    def _ort_session(self, job: MeasureJob) -> Any:
        from lutnas.lowering.ort import ort_session

        def load(path: Path) -> Any:
            return ort_session(path, self.threads)

        return self._cached(job.onnx_path, load)


class LocalRuntimes:
    """This machine's runners of several runtimes behind one `sampler` and `holding`, so that
    `rounds.measure_interleaved` can time one network under TVM and under onnxruntime sample by
    sample (a LocalRunner times its own runtime only)."""

    def __init__(self, runners: Sequence[LocalRunner]) -> None:
        self.runners = {runner.runtime: runner for runner in runners}

    def sampler(self, job: MeasureJob) -> harness.Sampler:
        if job.runtime not in self.runners:
            raise DeviceError(f"job {job.key!r} asks for {job.runtime}; these runners time {', '.join(self.runners)}")
        return self.runners[job.runtime].sampler(job)

    def holding(self) -> AbstractContextManager[object]:
        return next(iter(self.runners.values())).holding()   # one device: every local runner holds the same


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
