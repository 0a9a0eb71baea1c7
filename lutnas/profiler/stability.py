"""Instability detection and re-measurement in later passes (pyperf's warnings, as a policy).

Within one pass a measurement is unstable when its coefficient of variation (stdev / mean) reaches
`cv_max` (pyperf warns at 10%) or when its slowest sample is far from its fastest (`spread_max`,
max / min). Across passes, the medians of the passes that were stable on their own must agree within
`drift_max` (relative to the smaller median). Noise on a shared machine is bursty, so a re-measure
is worth most when it is *not* back-to-back with the pass it repeats: `verdict()` is a pure function
of the passes so far, so the one measuring loop (`rounds.measure_in_rounds`) can run pass 1 over every
job, then pass 2 over only the jobs that need it. Every pass is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lutnas.profiler.measurement import Measurement


@dataclass(frozen=True)
class StabilityPolicy:
    cv_max: float = 0.10          # pyperf: stdev >= 10% of the mean is unstable
    spread_max: float = 1.5       # max / min sample within a pass
    drift_max: float = 0.10       # |median_a - median_b| / min(median_a, median_b) across passes
    min_passes: int = 1
    max_passes: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.min_passes <= self.max_passes:
            raise ValueError("need 1 <= min_passes <= max_passes")


DEFAULT_POLICY = StabilityPolicy()


@dataclass(frozen=True)
class Verdict:
    stable: bool
    needs_more: bool       # another pass is allowed and could change the verdict
    reason: str            # empty when stable
    median_ms: float       # median of the pooled samples of the passes that were stable alone (or all)


@dataclass(frozen=True)
class StableResult:
    passes: tuple[Measurement, ...]
    verdict: Verdict

    @property
    def stable(self) -> bool:
        return self.verdict.stable


def check_pass(m: Measurement, policy: StabilityPolicy = DEFAULT_POLICY) -> str:
    """Why one pass is unstable on its own ('' when it is not)."""
    reasons = []
    if m.n >= 2 and m.cv >= policy.cv_max:
        reasons.append(f"cv {m.cv:.1%} >= {policy.cv_max:.0%}")
    if m.max_ms / m.min_ms >= policy.spread_max:
        reasons.append(f"max/min {m.max_ms / m.min_ms:.2f} >= {policy.spread_max:.2f}")
    return "; ".join(reasons)


def assess(m: Measurement, policy: StabilityPolicy = DEFAULT_POLICY) -> Measurement:
    """The measurement with its `unstable` flag and reason set from `check_pass`."""
    reason = check_pass(m, policy)
    return m.flagged(bool(reason), reason)


def check_agreement(passes: Sequence[Measurement], policy: StabilityPolicy = DEFAULT_POLICY) -> str:
    """Why the medians of these passes disagree ('' when they agree or there is only one)."""
    if len(passes) < 2:
        return ""
    medians = [p.median_ms for p in passes]
    lo, hi = min(medians), max(medians)
    drift = (hi - lo) / lo
    if drift >= policy.drift_max:
        return f"pass medians drift {drift:.1%} >= {policy.drift_max:.0%} ({lo:.4g}..{hi:.4g} ms)"
    return ""


def verdict(passes: Sequence[Measurement], policy: StabilityPolicy = DEFAULT_POLICY) -> Verdict:
    """Stable when the passes that are stable alone exist, agree, and number >= min_passes."""
    if not passes:
        raise ValueError("verdict() needs at least one pass")
    calm = [p for p in passes if not check_pass(p, policy)]
    pool = calm or list(passes)
    median = _pooled_median(pool)
    if not calm:
        reason = f"every pass unstable (last: {check_pass(passes[-1], policy)})"
    else:
        reason = check_agreement(calm, policy)
        if not reason and len(calm) < policy.min_passes:
            reason = f"{len(calm)} stable pass(es) < min_passes {policy.min_passes}"
    more = bool(reason) and len(passes) < policy.max_passes
    return Verdict(stable=not reason, needs_more=more, reason=reason, median_ms=median)


def _pooled_median(passes: Sequence[Measurement]) -> float:
    values = sorted(s for p in passes for s in p.samples_ms)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])
