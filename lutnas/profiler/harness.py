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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lutnas.profiler.measurement import MeasureJob, Measurement

MAX_INNER_LOOPS = 1 << 20
_CALIBRATION_ROUNDS = 8


def calibrate(time_block: Callable[[int], float], min_repeat_ms: float) -> tuple[int, int]:
    """Smallest-found `number` with `time_block(number) >= min_repeat_ms` (ms for `number` calls).

    Returns (number, calls spent calibrating). Grows by the measured shortfall, 10% over, at most
    x100 per round, so a 1 us kernel reaches a 20 ms block in two or three rounds. A block that
    reaches the target is timed once more and the faster of the two decides: on a shared VM one
    slow block (a neighbour's burst) would otherwise fix a loop count several times too small.
    """
    number, spent = 1, 0
    for _ in range(_CALIBRATION_ROUNDS):
        block_ms = time_block(number)
        spent += number
        if block_ms >= min_repeat_ms and number < MAX_INNER_LOOPS:
            block_ms = min(block_ms, time_block(number))
            spent += number
        if block_ms >= min_repeat_ms or number >= MAX_INNER_LOOPS:
            return number, spent
        grow = min_repeat_ms / max(block_ms, 1e-6) * 1.1
        number = min(MAX_INNER_LOOPS, max(number + 1, math.ceil(number * min(grow, 100.0))))
    return number, spent


def random_input(job: MeasureJob, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(job.input_shape).astype(job.dtype)


@dataclass
class Sampler:
    """One job loaded, warmed and calibrated, ready to take samples of `inner_loops` calls each.

    `take(n)` times n more samples (ms per call). Every evaluation starts with one untimed call, so a
    sample never times the first call after another job ran (TVM's `time_evaluator` makes that call
    itself). A pass is `take(job.repeats)`; interleaved timing (`profiler.rounds.measure_interleaved`)
    takes one sample of every job in turn, cycle after cycle.
    """

    job: MeasureJob
    inner_loops: int
    warm: int                                        # untimed calls so far
    started_at: float
    evaluate: Callable[[int], tuple[float, ...]]     # n samples after one untimed call

    def take(self, n: int = 1) -> tuple[float, ...]:
        samples = self.evaluate(n)
        self.warm += 1
        return samples

    def as_pass(self, samples: tuple[float, ...], started_at: float | None = None, **meta: object) -> Measurement:
        """A Measurement of `samples` taken by this sampler since `started_at` (default: since it was
        loaded), `meta` added to its record."""
        m = _record(self.job, samples, self.inner_loops, self.warm, self.started_at if started_at is None else started_at)
        return replace(m, meta={**m.meta, **meta}) if meta else m


def tvm_sampler(lib: Any, dev: Any, job: MeasureJob) -> Sampler:
    """The Relax VM in `lib` (local or remote runtime module) on `dev`, calibrated for `job`."""
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

    def evaluate(n: int) -> tuple[float, ...]:
        res = vm.time_evaluator("main", dev, number=inner, repeat=n, min_repeat_ms=0)(x)
        return tuple(r * 1e3 for r in res.results)

    # time_evaluator makes one untimed call of its own before each evaluation: counted as warm-up.
    return Sampler(job, inner, job.warmup + spent + evaluations, started, evaluate)


def loop_ms(call: Callable[[], object], number: int) -> float:
    """`number` back-to-back calls of `call`, timed together (ms for all of them)."""
    t0 = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - t0) * 1e3


def settled_sample_ms(call: Callable[[], object], number: int) -> float:
    """One sample of a Python-driven runtime: one untimed call, then `number` timed calls; ms per call.

    Why the untimed call: samples are taken in interleaved cycles, so a sample's first call meets the
    caches as the previous network left them (its weights evicted). Every sample of a network,
    wherever it is taken (`measure`, `validate`, the in-network profile's latencies), must exclude
    it alike, or a table built from one kind predicts the other with a bias: the in-network profile
    once timed that call and `validate` did not, and its tables read 0-12% slow
    (docs/measurements/validate-repeat-2026-12-04.md).
    """
    call()
    return loop_ms(call, number) / number


def ort_sampler(session: Any, job: MeasureJob) -> Sampler:
    """An onnxruntime `InferenceSession`, timed with a perf_counter loop around `run`."""
    feeds = {job.input_name: random_input(job)}
    run = session.run
    started = time.time()
    for _ in range(job.warmup):
        run(None, feeds)

    def call() -> object:
        return run(None, feeds)

    inner, spent = calibrate(lambda number: loop_ms(call, number), job.min_repeat_ms)

    def evaluate(n: int) -> tuple[float, ...]:
        call()
        return tuple(loop_ms(call, inner) / inner for _ in range(n))

    return Sampler(job, inner, job.warmup + spent, started, evaluate)


def time_tvm(lib: Any, dev: Any, job: MeasureJob) -> Measurement:
    """One pass: `job.repeats` samples of the Relax VM in `lib` on `dev`."""
    sampler = tvm_sampler(lib, dev, job)
    return sampler.as_pass(sampler.take(job.repeats))


def time_ort(session: Any, job: MeasureJob) -> Measurement:
    """One pass: `job.repeats` samples of an onnxruntime session."""
    sampler = ort_sampler(session, job)
    return sampler.as_pass(sampler.take(job.repeats))


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
