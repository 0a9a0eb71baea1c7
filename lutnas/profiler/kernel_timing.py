"""Timing one fused kernel alone, on random tensors of its real argument shapes, in a chosen cache state.

The kernel is a top-level function of a kernel library (`lowering.kernels.build_with_kernels`), so
TVM's `time_evaluator` runs it by name here or on an RPC board, exactly as it runs a Relax VM's
`main` in `harness.time_tvm`. Samples have the harness's shape: each is the mean time of one call
over a group of calls lasting at least `min_repeat_ms`.

Cache states (`CACHE_MODES`), because a kernel inside a model does not find its data where a
kernel repeated back to back does (bench/cache_state.py measured the gap for blocks):
- "hot": back-to-back calls; weights, input and output stay in the caches.
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
from typing import Any

import numpy as np

from lutnas.errors import DeviceError, LutnasError
from lutnas.profiler.harness import calibrate
from lutnas.profiler.measurement import DEFAULT_MIN_REPEAT_MS, DEFAULT_REPEATS, DEFAULT_WARMUP, Measurement

CACHE_MODES = ("hot", "flush")
DEFAULT_CACHE_MODE = "hot"
FLUSH_PREPROC = "cache_flush_cpu_non_first_arg"
MAX_FLUSHED_CALLS = 2000   # per sample: every flushed call is its own timed repeat


@dataclass(frozen=True)
class KernelJob:
    """One kernel to time: `function` of the kernel library at `library_path`, on arguments of
    `shapes` / `dtypes` (inputs first, output last); `key` is its signature."""

    key: str
    library_path: Path
    function: str
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    cache_mode: str = DEFAULT_CACHE_MODE
    target: str = "x86"
    threads: int = 1
    repeats: int = DEFAULT_REPEATS
    min_repeat_ms: float = DEFAULT_MIN_REPEAT_MS
    warmup: int = DEFAULT_WARMUP

    def __post_init__(self) -> None:
        object.__setattr__(self, "library_path", Path(self.library_path))
        object.__setattr__(self, "shapes", tuple(tuple(int(d) for d in s) for s in self.shapes))
        if self.cache_mode not in CACHE_MODES:
            raise LutnasError(f"unknown cache mode {self.cache_mode!r}; valid: {', '.join(CACHE_MODES)}")
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
    """Time `job.function` of the loaded kernel library `lib` on `dev`."""
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


def _record(job: KernelJob, samples: tuple[float, ...], inner: int, warm: int, started: float) -> Measurement:
    samples = tuple(max(s, 1e-6) if math.isfinite(s) else 1e-6 for s in samples)
    return Measurement(
        samples_ms=samples, inner_loops=inner, warmup=warm, threads=job.threads, started_at=started,
        ended_at=time.time(), pass_no=1, runtime="tvm", key=job.key,
        meta={"min_repeat_ms": job.min_repeat_ms, "target": job.target, "cache_mode": job.cache_mode,
              "function": job.function},
    )
