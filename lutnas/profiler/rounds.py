"""The measuring loops: jobs in rounds of passes until their stability verdict is satisfied (table
entries), or interleaved, cycles of one sample of every job (whole networks, `measure_interleaved`).

Latency tables (`latency_tables.profile`) and `lutnas run` measure in rounds: round 1 over every job that needs a pass, then later rounds
over only the jobs whose verdict (`stability.verdict`) still asks for more, so a re-measure is never
back to back with the pass it repeats and bursty noise of a shared machine spreads over the passes.
Every pass is kept, numbered per job and stamped with its round (`meta["round"]`).

Why rounds matter beyond stability: on a shared VM the absolute speed moves by 20% within minutes,
while the ratio of two jobs timed in the same round moves by a few percent. A caller that times a
reference at every round boundary (`RoundHooks.at_boundary`: once before round 1 and once after every
round) brackets each round by its own reference timings and can correct every pass by the drift of
its round. Whole networks (`latency_tables.networks`: measure, validate, a table's network fit) go
one step further and interleave single samples, so every network and every anchor share each cycle.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, StableResult, assess, verdict

if TYPE_CHECKING:
    from lutnas.profiler.harness import Sampler
    from lutnas.profiler.runners import Runner


@dataclass
class RoundHooks:
    """Optional callbacks of `measure_in_rounds`; job indices are positions in its `jobs`."""

    on_pass: Callable[[int, Measurement], None] | None = None   # every pass as it arrives (store it)
    at_boundary: Callable[[int], None] | None = None            # k = 0 before round 1, k after round k
    on_round: Callable[[int, int], None] | None = None          # (round number, jobs in it): progress
    on_settled: Callable[[int], None] | None = None             # job i needs no more passes


def measure_in_rounds(
    runner: Runner,
    jobs: Sequence[MeasureJob],
    policy: StabilityPolicy = DEFAULT_POLICY,
    *,
    prior: Sequence[Sequence[Measurement]] | None = None,
    fresh: Collection[int] = (),
    min_rounds: int = 0,
    hooks: RoundHooks | None = None,
) -> list[list[Measurement]]:
    """Passes of every job (`prior` ones first), measured in rounds; returned per job in input order.

    A job takes a pass in a round while it has none, has fewer than `min_rounds` (validation wants
    every network in several rounds, stable or not), or its verdict over all its passes needs more
    (up to `policy.max_passes`). Jobs in `fresh` take one pass in round 1 whatever their verdict
    (`profile --remeasure`).
    """
    hooks = hooks or RoundHooks()
    passes = [list(p) for p in prior] if prior is not None else [[] for _ in jobs]
    if len(passes) != len(jobs):
        raise ValueError("prior passes must be given for every job")

    def wants(i: int) -> bool:
        n = len(passes[i])
        return n == 0 or n < min_rounds or verdict(passes[i], policy).needs_more

    todo = [i for i in range(len(jobs)) if i in fresh or wants(i)]
    round_no = 0
    if todo and hooks.at_boundary is not None:
        hooks.at_boundary(0)
    while todo:
        round_no += 1
        if hooks.on_round is not None:
            hooks.on_round(round_no, len(todo))

        def record(k: int, m: Measurement, round_no: int = round_no, todo: list[int] = todo) -> None:
            i = todo[k]
            m = assess(replace(m, pass_no=len(passes[i]) + 1, meta={**m.meta, "round": round_no}), policy)
            passes[i].append(m)
            if hooks.on_pass is not None:
                hooks.on_pass(i, m)
            if hooks.on_settled is not None and not wants(i):
                hooks.on_settled(i)

        measure_each(runner, [jobs[i] for i in todo], record)
        if hooks.at_boundary is not None:
            hooks.at_boundary(round_no)
        todo = [i for i in todo if wants(i)]
    return passes


def measure_each(runner: Runner, jobs: Sequence[MeasureJob], on_result: Callable[[int, Measurement], None]) -> None:
    """One pass of every job, each result handed to `on_result(position, measurement)` in this thread.

    `runner.measure_many` measures them: a device farm (`TrackerRunner`) spreads the jobs over its
    boards and reports them in any order, a one-device runner measures them in turn. Results are
    matched to positions by job key (equal keys are equal jobs, taken in order).
    """
    position: dict[str, deque[int]] = {}
    for k, job in enumerate(jobs):
        position.setdefault(job.key, deque()).append(k)
    runner.measure_many(list(jobs), lambda job, m: on_result(position[job.key].popleft(), m))


def measure_stable(
    runner: Runner,
    job: MeasureJob,
    policy: StabilityPolicy = DEFAULT_POLICY,
    between: Callable[[int], None] | None = None,
    first: Sequence[Measurement] = (),
) -> StableResult:
    """Measure one job in passes until `verdict()` is stable or `max_passes` is reached.

    `between(next_pass_no)` runs before every pass after the first one (measure other jobs there,
    or sleep), so re-measurements are not back-to-back. `first` resumes from passes already taken;
    one new pass is always taken.
    """
    seen = list(first)

    def before_next(k: int) -> None:   # boundary k: a pass follows when resuming or when more are needed
        follows = bool(seen) if k == 0 else verdict(seen, policy).needs_more
        if between is not None and seen and follows:
            between(len(seen) + 1)

    passes = measure_in_rounds(runner, [job], policy, prior=[list(first)], fresh={0},
                               hooks=RoundHooks(on_pass=lambda _, m: seen.append(m), at_boundary=before_next))
    return StableResult(tuple(passes[0]), verdict(passes[0], policy))


INTERLEAVED_CYCLES = 15   # whole networks: cycles of one sample each (bench/retest.py chose it)


def measure_interleaved(
    runner: Runner,
    jobs: Sequence[MeasureJob],
    cycles: int = INTERLEAVED_CYCLES,
    policy: StabilityPolicy = DEFAULT_POLICY,
    *,
    hooks: RoundHooks | None = None,
) -> list[Measurement] | None:
    """One pass per job whose samples were taken in `cycles` cycles of one sample of every job.

    Passes in rounds put a job's ten samples within a fraction of a second and another job's in the
    next fraction, so a burst of a noisy neighbour or the VM's drift lands on one job and not the
    other. Here every job is loaded and calibrated first, then each cycle takes one sample of every
    job in turn (the order rotated by one each cycle), so all jobs' samples share the same time
    windows and the estimator over a job's samples averages the same noise for all of them. On this
    2-core VM the ratio of a network to a reference measured 10 minutes apart moved median 3.4% / p95
    5.9% in three rounds of passes and 1.2% / 2.1% interleaved (docs/measurements/retest-2026-12-03.md).

    `hooks.at_boundary(k)` runs before cycle 1 (k = 0) and after every cycle k (a reference or the
    drift anchors); `on_round(k, jobs)` before cycle k. Every sample's cycle and mid-time are kept in
    the pass's meta (`sample_rounds`, `sample_at`) so drift can be corrected per sample, and the pass
    is marked `interleaved` (its repeatability is read from its two halves, `pass_values`). Returns
    None when the runner cannot hold one device for the series (a tracker farm): time passes in
    rounds instead (`measure_in_rounds`). The device's timing lock is held throughout.
    """
    hooks = hooks or RoundHooks()
    samplers = [runner.sampler(job) for job in jobs]
    if any(s is None for s in samplers):
        return None
    samples: list[list[float]] = [[] for _ in jobs]
    at: list[list[float]] = [[] for _ in jobs]
    with runner.holding():
        if hooks.at_boundary is not None:
            hooks.at_boundary(0)
        for cycle in range(1, cycles + 1):
            if hooks.on_round is not None:
                hooks.on_round(cycle, len(jobs))
            for k in range(len(jobs)):
                i = (k + cycle - 1) % len(jobs)
                t0 = time.time()
                samples[i].extend(samplers[i].take(1))
                at[i].append(0.5 * (t0 + time.time()))
            if hooks.at_boundary is not None:
                hooks.at_boundary(cycle)
    rounds = list(range(1, cycles + 1))
    passes = [assess(s.as_pass(tuple(v), round=1, interleaved=True, sample_rounds=rounds, sample_at=a), policy)
              for s, v, a in zip(samplers, samples, at)]
    for i, m in enumerate(passes):
        if hooks.on_pass is not None:
            hooks.on_pass(i, m)
        if hooks.on_settled is not None:
            hooks.on_settled(i)
    return passes


def one_sample(runner: Runner) -> Callable[[MeasureJob], Measurement]:
    """`job -> a pass of one sample`, each job loaded and calibrated once: anchors or a reference timed
    at every cycle boundary of `measure_interleaved` cost one sample each, like the jobs they bracket."""
    loaded: dict[MeasureJob, Sampler | None] = {}

    def measure(job: MeasureJob) -> Measurement:
        if job not in loaded:
            loaded[job] = runner.sampler(job)
        sampler = loaded[job]
        if sampler is None:
            return runner.measure(job)
        started = time.time()
        return sampler.as_pass(sampler.take(1), started_at=started)

    return measure
