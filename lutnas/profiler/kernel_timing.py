"""Timing one fused kernel alone, on random tensors of its real argument shapes, in a chosen cache state.

The kernel is a top-level function of a kernel library (`lowering.kernels.build_with_kernels`), so
TVM's `time_evaluator` runs it by name here or on an RPC board, exactly as it runs a Relax VM's
`main` in `harness.time_tvm`. Samples have the harness's shape: each is the mean time of one call
over a group of calls lasting at least `min_repeat_ms`.

Cache states (`CACHE_MODES`), because a kernel inside a model does not find its data where a
kernel repeated back to back does (bench/cache_state.py measured the gap for blocks):
- "in-model" (the default where the model runs on this machine): the model's VM `main` is run once
  with an instrument hook that keeps every kernel call's arguments by reference (`ModelReplay`):
  the VM's own tensors, storage shared between calls exactly as the model shares it, holding the
  values the model computes. Each timed call of the kernel is then preceded, untimed, by the rest of
  the model's calls in cyclic order (TVM's `f_preproc`), so it meets the cache state and the data it
  meets when the model runs back to back, as `measure` times it. Why: on random tensors alone a
  kernel's time can differ from its time in the model by tens of percent both ways (values: an
  MLP-Mixer's GELU kernels ran +30% on random data; cache and write-allocate state: -10% for the
  same model's kernels repeated hot on its own buffers); in the model's loop the sum of its kernels
  came within -1% to -4% of the whole model for six models (the rest is the VM's own cost, measured
  by the probes). It needs Python callbacks where the model runs: on an RPC board they are the
  board's (`board_hooks`, served by `lutnas board up`), driven by `BoardReplay`; a stock TVM RPC
  server has none and keeps "hot" / "flush".
- "hot": back-to-back calls on random tensors; weights, input and output stay in the caches.
- "flush": before every call TVM's `cache_flush_cpu_non_first_arg` evicts every argument but the
  first (the activation the previous kernel just wrote): weights and output come from memory, as
  in a model whose working set exceeds the caches. Runs where TVM's runtime runs (boards too).
Which predicts whole models better is measured by bench/kernel_table_accuracy.py.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lutnas.errors import DeviceError, LutnasError
from lutnas.profiler.board_hooks import Replay
from lutnas.profiler.harness import calibrate, random_input
from lutnas.profiler.measurement import (
    DEFAULT_MIN_REPEAT_MS,
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    MeasureJob,
    Measurement,
)

CACHE_MODES = ("in-model", "hot", "flush")
BOARD_CACHE_MODES = ("hot", "flush")   # what a stock TVM RPC server can do: no lutnas hooks in its VM
FLUSH_PREPROC = "cache_flush_cpu_non_first_arg"
MAX_FLUSHED_CALLS = 2000   # per sample: every flushed call is its own timed repeat
IN_MODEL_BUDGET_MS = 300.0  # model time spent before the timed calls of one pass, at most (>= 1 call a sample)


@dataclass(frozen=True)
class KernelJob:
    """One kernel to time: `function` of the kernel library at `library_path`, on arguments of
    `shapes` / `dtypes` (inputs first, output last); `key` is its signature."""

    key: str
    library_path: Path
    function: str
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    cache_mode: str = "hot"           # "in-model" needs `model`
    target: str = "x86"
    threads: int = 1
    repeats: int = DEFAULT_REPEATS
    min_repeat_ms: float = DEFAULT_MIN_REPEAT_MS
    warmup: int = DEFAULT_WARMUP
    model: MeasureJob | None = None   # "in-model": the model whose run the kernel is timed inside

    def __post_init__(self) -> None:
        object.__setattr__(self, "library_path", Path(self.library_path))
        object.__setattr__(self, "shapes", tuple(tuple(int(d) for d in s) for s in self.shapes))
        if self.cache_mode not in CACHE_MODES:
            raise LutnasError(f"unknown cache mode {self.cache_mode!r}; valid: {', '.join(CACHE_MODES)}")
        if self.cache_mode == "in-model" and (self.model is None or self.model.library_path is None):
            raise LutnasError(f"kernel {self.key}: in-model timing needs the compiled model it runs inside")
        if len(self.shapes) != len(self.dtypes) or not self.shapes:
            raise LutnasError(f"kernel {self.key}: needs one dtype per argument shape")
        if self.repeats < 1 or self.threads < 1 or self.warmup < 0 or self.min_repeat_ms < 0:
            raise LutnasError(f"kernel {self.key}: need repeats >= 1, threads >= 1, warmup >= 0, "
                              "min_repeat_ms >= 0")


def check_kernel_job(job: KernelJob, runtime: str, target_name: str, threads: int) -> None:
    """A runner times kernels only for the TVM runtime, its own target and thread count."""
    if (runtime, target_name, threads) != ("tvm", job.target, job.threads):
        raise LutnasError(f"kernel {job.key} asks for tvm/{job.target} with {job.threads} thread(s); this runner "
                          f"measures {runtime}/{target_name} with {threads}")


def kernel_arguments(job: KernelJob, dev: Any, seed: int = 0) -> list[Any]:
    """Seeded random tensors of the kernel's argument shapes on `dev` (an RPC device too), at the scale
    a network feeds them (`argument_scale`)."""
    import tvm

    rng = np.random.default_rng(seed)
    out = []
    for n, (shape, dtype) in enumerate(zip(job.shapes, job.dtypes)):
        if dtype.startswith(("int", "uint")):
            data = rng.integers(0, 2, size=shape).astype(dtype)   # indices stay in range
        elif dtype == "bool":
            data = rng.integers(0, 2, size=shape).astype(bool)
        else:
            data = (rng.standard_normal(shape) * argument_scale(n, len(job.shapes), shape)).astype(dtype)
        out.append(tvm.runtime.tensor(data, dev))
    return out


def argument_scale(index: int, count: int, shape: tuple[int, ...]) -> float:
    """Standard deviation of argument `index` of `count`: 1 for the first input (an activation) and the
    output, 1/sqrt(fan-in) for the ones between (weights, as a network initialises them: fan-in = all
    dimensions but the last). Why it matters: a kernel's time can depend on its values. A matmul + GELU
    kernel fed N(0, 1) weights sees pre-activations of std sqrt(K), and erf's tails make denormal
    floats: here two such kernels ran 37 us on N(0, 1) arguments and 15-20 us on small ones, and a
    kernel table of four MLP-Mixer models over-predicted them by 56-130% (29-78% on network-scale
    arguments, an hour later; bench/kernel_table_accuracy.py)."""
    if index == 0 or index == count - 1 or len(shape) < 2:
        return 1.0
    return 1.0 / math.sqrt(max(1, math.prod(shape[:-1])))


def time_kernel(lib: Any, dev: Any, job: KernelJob) -> Measurement:
    """Time `job.function` of the loaded kernel library `lib` on `dev`, hot or flushed (in-model:
    `time_kernel_in_model`)."""
    if job.cache_mode not in BOARD_CACHE_MODES:
        raise LutnasError(f"kernel {job.key}: {job.cache_mode} timing needs its model's run (time_kernel_in_model)")
    try:
        lib.get_function(job.function)
    except Exception:  # noqa: BLE001 -- absent: the library and the kernel list disagree
        raise DeviceError(f"kernel {job.key}: {job.library_path.name} has no function {job.function!r}; "
                          "delete the cached library to rebuild it") from None
    args = kernel_arguments(job, dev)
    started = time.time()
    hot = lib.time_evaluator(job.function, dev, number=1, repeat=max(1, job.warmup), min_repeat_ms=0)
    hot(*args)

    def block_ms(number: int) -> float:
        res = lib.time_evaluator(job.function, dev, number=number, repeat=1, min_repeat_ms=0)(*args)
        return res.results[0] * 1e3 * number

    inner, spent = calibrate(block_ms, job.min_repeat_ms)
    if job.cache_mode == "hot":
        res = lib.time_evaluator(job.function, dev, number=inner, repeat=job.repeats, min_repeat_ms=0)(*args)
        samples = tuple(r * 1e3 for r in res.results)
    else:
        inner = min(inner, MAX_FLUSHED_CALLS)
        res = lib.time_evaluator(job.function, dev, number=1, repeat=inner * job.repeats, min_repeat_ms=0,
                                 f_preproc=FLUSH_PREPROC)(*args)
        calls = np.asarray(res.results, dtype=np.float64).reshape(job.repeats, inner)
        samples = tuple(float(v) * 1e3 for v in calls.mean(axis=1))
    return _record(job, samples, inner, job.warmup + spent, started)


# -- in-model timing ---------------------------------------------------------------------------------
class InModelTimer(Protocol):
    """A model's captured run, where its kernels can be timed inside its loop: here (`ModelReplay`)
    or on an RPC board whose server carries lutnas's hooks (`BoardReplay`, `board_hooks`)."""

    library_path: Path

    def select(self, function: str) -> None:
        """Time the first call of `function` from now on (`DeviceError` if the model never calls it)."""

    def rest_ms(self) -> float:
        """One untimed run of the rest of the model, in ms (sizes the pass)."""

    def time(self, calls: int) -> list[float]:
        """`calls` single timed calls of the selected kernel, each after the rest of the model; ms each."""


@dataclass
class ModelReplay:
    """A model's run captured here: `board_hooks.Replay`, the same code a board runs."""

    library_path: Path
    replay: Replay

    @classmethod
    def capture(cls, model_lib: Any, kernel_lib: Any, dev: Any, model: MeasureJob) -> ModelReplay:
        import tvm

        x = tvm.runtime.tensor(random_input(model), dev)
        return cls(Path(str(model.library_path)), Replay(model_lib, kernel_lib, x))

    @property
    def calls(self) -> list[tuple[str, Any, list[Any]]]:
        """(name, kernel function, arguments) of every kernel call, in order."""
        return self.replay.calls

    def select(self, function: str) -> None:
        if self.replay.select(function) < 0:
            raise DeviceError(f"{self.library_path.name} never calls {function!r}; delete the cached library "
                              "to rebuild it")

    def rest_ms(self) -> float:
        return float(self.replay.rest_ms())

    def time(self, calls: int) -> list[float]:
        return [s * 1e3 for s in self.replay.time_selected(calls)]


@dataclass
class BoardReplay:
    """A model's captured run on an RPC board, driven through the board's hooks (`board_hooks`)."""

    library_path: Path
    remote: Any     # the session's RPC module

    @classmethod
    def capture(cls, remote: Any, model_path: str, kernel_path: str, x: Any, library_path: Path) -> BoardReplay:
        remote.get_function("lutnas.board.capture")(model_path, kernel_path, x)
        return cls(library_path, remote)

    def select(self, function: str) -> None:
        if int(self.remote.get_function("lutnas.board.select")(function)) < 0:
            raise DeviceError(f"{self.library_path.name} never calls {function!r} on the board")

    def rest_ms(self) -> float:
        return float(self.remote.get_function("lutnas.board.rest_ms")())

    def time(self, calls: int) -> list[float]:
        text = str(self.remote.get_function("lutnas.board.time_selected")(int(calls)))
        return [float(v) * 1e3 for v in text.split(",")]


def time_kernel_in_model(job: KernelJob, timer: InModelTimer) -> Measurement:
    """Time `job.function` inside its model's loop (module doc: "in-model"), here or on a board.

    A sample is the mean of `inner` single calls, each after one run of the rest of the model; `inner`
    reaches `min_repeat_ms` of kernel time unless the pass would spend more than IN_MODEL_BUDGET_MS
    running the rest of the model (large models: a few calls a sample, never fewer than one)."""
    started = time.time()
    timer.select(job.function)
    model_ms = timer.rest_ms()
    probe = timer.time(max(3, job.warmup))
    kernel_ms = max(float(np.median(probe)), 1e-6)
    budget = max(1, int(IN_MODEL_BUDGET_MS / (job.repeats * max(model_ms, 1e-3))))
    inner = max(1, min(math.ceil(job.min_repeat_ms / kernel_ms), budget, MAX_FLUSHED_CALLS))
    calls = np.asarray(timer.time(inner * job.repeats)).reshape(job.repeats, inner)
    samples = tuple(float(v) for v in calls.mean(axis=1))
    return _record(job, samples, inner, len(probe) + 1, started)


def _record(job: KernelJob, samples: tuple[float, ...], inner: int, warm: int, started: float) -> Measurement:
    samples = tuple(max(s, 1e-6) if math.isfinite(s) else 1e-6 for s in samples)
    return Measurement(
        samples_ms=samples, inner_loops=inner, warmup=warm, threads=job.threads, started_at=started,
        ended_at=time.time(), pass_no=1, runtime="tvm", key=job.key,
        meta={"min_repeat_ms": job.min_repeat_ms, "target": job.target, "cache_mode": job.cache_mode,
              "function": job.function},
    )
