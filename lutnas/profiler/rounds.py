"""The one loop that measures jobs in rounds until their stability verdict is satisfied.

Latency tables (`latency_tables.profile`), whole networks (`latency_tables.networks`), validation
and `lutnas run` all measure this way: round 1 over every job that needs a pass, then later rounds
over only the jobs whose verdict (`stability.verdict`) still asks for more, so a re-measure is never
back to back with the pass it repeats and bursty noise of a shared machine spreads over the passes.
Every pass is kept, numbered per job and stamped with its round (`meta["round"]`).

Why rounds matter beyond stability: on a shared VM the absolute speed moves by 20% within minutes,
while the ratio of two jobs timed in the same round moves by a few percent. A caller that times a
reference at every round boundary (`RoundHooks.at_boundary`: once before round 1 and once after every
round) brackets each round by its own reference timings and can correct every pass by the drift of
its round; validation does that with the table's anchor entries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, StableResult, assess, verdict

if TYPE_CHECKING:
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
