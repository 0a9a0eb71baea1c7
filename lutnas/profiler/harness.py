"""Timing loops for the two runtimes, with one calibration rule and one sample shape.

Block sizing follows torch.utils.benchmark (`utils/timer.py`: grow the block until timer overhead is
negligible) and pyperf's loops: the number of back-to-back calls per sample (`inner_loops`) is grown
until one sample lasts at least `min_repeat_ms`; each sample is then the mean time of one call over
those loops. Warm-up and calibration calls are untimed for the record and only counted.

TVM is timed with the Relax VM's `time_evaluator` (TVM's C++ timer; also works on an RPC session's
remote module, which is why calibration uses it too rather than a Python clock). `inner_loops` is
calibrated here and passed as `number` with `min_repeat_ms=0`: TVM's own `min_repeat_ms` silently
grows `number` per repeat, which would make the recorded loop count wrong. onnxruntime is timed with
`time.perf_counter` around `session.run`, with the same calibration and the same statistics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lutnas.profiler.measurement import MeasureJob, Measurement

MAX_INNER_LOOPS = 1 << 20
_CALIBRATION_ROUNDS = 8


def calibrate(time_block: Callable[[int], float], min_repeat_ms: float) -> tuple[int, int]:
    """Smallest-found `number` with `time_block(number) >= min_repeat_ms` (ms for `number` calls).

    Returns (number, calls spent calibrating). Grows by the measured shortfall, 10% over, at most
    x100 per round, so a 1 us kernel reaches a 20 ms block in two or three rounds.
    """
    number, spent = 1, 0
    for _ in range(_CALIBRATION_ROUNDS):
        block_ms = time_block(number)
        spent += number
        if block_ms >= min_repeat_ms or number >= MAX_INNER_LOOPS:
            return number, spent
        grow = min_repeat_ms / max(block_ms, 1e-6) * 1.1
        number = min(MAX_INNER_LOOPS, max(number + 1, math.ceil(number * min(grow, 100.0))))
    return number, spent


def random_input(job: MeasureJob, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(job.input_shape).astype(job.dtype)


def time_tvm(lib: Any, dev: Any, job: MeasureJob) -> Measurement:
    """Time the Relax VM in `lib` (local or remote runtime module) on `dev`."""
    import tvm
    from tvm.runtime.vm import VirtualMachine  # runtime-only: works where TVM_USE_RUNTIME_LIB=1

    vm = VirtualMachine(lib, dev)
    x = tvm.runtime.tensor(random_input(job), dev)
    started = time.time()
    for _ in range(job.warmup):
        vm["main"](x)
    dev.sync()

    evaluations = 0

    def block_ms(number: int) -> float:
        nonlocal evaluations
        evaluations += 1
        res = vm.time_evaluator("main", dev, number=number, repeat=1, min_repeat_ms=0)(x)
        return res.results[0] * 1e3 * number

    inner, spent = calibrate(block_ms, job.min_repeat_ms)
    res = vm.time_evaluator("main", dev, number=inner, repeat=job.repeats, min_repeat_ms=0)(x)
    samples = tuple(r * 1e3 for r in res.results)
    # time_evaluator makes one untimed call of its own before each evaluation: count those too.
    warm = job.warmup + spent + evaluations + 1
    return _record(job, samples, inner, warm, started)


def time_ort(session: Any, job: MeasureJob) -> Measurement:
    """Time an onnxruntime `InferenceSession` with a perf_counter loop around `run`."""
    feeds = {job.input_name: random_input(job)}
    run = session.run
    started = time.time()
    for _ in range(job.warmup):
        run(None, feeds)

    def block_ms(number: int) -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            run(None, feeds)
        return (time.perf_counter() - t0) * 1e3

    inner, spent = calibrate(block_ms, job.min_repeat_ms)
    samples = tuple(block_ms(inner) / inner for _ in range(job.repeats))
    return _record(job, samples, inner, job.warmup + spent, started)


def _record(job: MeasureJob, samples: tuple[float, ...], inner: int, warm: int, started: float) -> Measurement:
    # A sample below timer resolution reads as 0; clamp to a nanosecond so the record stays valid.
    samples = tuple(max(s, 1e-6) for s in samples)
    return Measurement(
        samples_ms=samples,
        inner_loops=inner,
        warmup=warm,
        threads=job.threads,
        started_at=started,
        ended_at=time.time(),
        pass_no=1,
        runtime=job.runtime,
        key=job.key,
        meta={"min_repeat_ms": job.min_repeat_ms, "target": job.target},
    )
