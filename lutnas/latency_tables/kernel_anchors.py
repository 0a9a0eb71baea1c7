"""A kernel table's own speed track: one whole model timed again and again while the kernels are timed.

A kernel table is filled over minutes, and this VM's speed moves by 5-15% in that time: the table's
profiled models, timed whole after their kernels, once read 6% slower than the same kernels summed
(the kernels timed in a faster phase), and the next profile of the same three models, minutes later,
read 3% faster; across four bench runs the ratio whole / (kernels + fixed cost) moved from 1.016 to
1.058 while neither the lowering nor the timing of those models changed. Ratios within one time window
repeat on this machine; absolute times do not (the brief's noise facts, issue 17).

So `lutnas profile --onnx` times an **anchor** -- one of the table's own models, whole, one calibrated
sample -- at least every `ANCHOR_EVERY_S` seconds between kernel passes, whole-model passes and probes
(`AnchorClock`), and stores each sample as a pass of kind "anchor". Reading the table
(`SpeedCurve`), every pass is divided by the device's speed at its mid-time: the anchor samples'
log latency, each smoothed by a running median over its neighbours (`SMOOTH` each side, one on a
short track: a single preempted sample must not bend the time base), interpolated in time and
taken relative to the log-median of all of them. Kernels, the
probes' fixed cost and the whole models then stand on one time base (the table's typical speed),
and a validation's drift factor (`kernel_validate.KernelDrift`, now / then of the profiled models)
compares with that base. A table without anchor samples (profiled before they existed) is read as
measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from lutnas.latency_tables.drift import log_median
from lutnas.profiler.measurement import MeasureJob, Measurement

ANCHOR_EVERY_S = 1.0      # at most this long between anchor samples while timing
ANCHOR_SHARE = 0.15       # ... unless the anchor itself would take more than this share of the time
SMOOTH = 2                # neighbours each side in an anchor sample's running median (with >= 17 samples)


def mid_time(m: Measurement) -> float:
    return 0.5 * (m.started_at + m.ended_at)


@dataclass(frozen=True)
class SpeedCurve:
    """The device's speed during a profile: anchor samples' (mid-time, ms), sorted by time."""

    times: np.ndarray
    ms: np.ndarray

    @classmethod
    def from_passes(cls, anchors: Sequence[Measurement]) -> SpeedCurve | None:
        """The curve of a table's anchor passes (one sample each, or more); None without any."""
        points = sorted((mid_time(m), float(np.median(m.samples_ms))) for m in anchors if m.samples_ms)
        if not points:
            return None
        return cls(np.array([t for t, _ in points]), np.array([v for _, v in points]))

    @cached_property
    def level_ms(self) -> float:
        """The anchor's typical latency over the whole profile: the time base passes are brought to."""
        return log_median(self.ms)

    @cached_property
    def smoothed_log(self) -> np.ndarray:
        """Each anchor sample's log latency as the median over it and its neighbours in time: SMOOTH
        each side on a long track, one on a short one (3 to 16 samples). A short profile has few
        anchors, and a single sample preempted by another process (x2-x20 on a 2-core VM under a
        parallel test run) used to bend its whole time base; a median of three drops such a sample and
        keeps a trend or a step. Each end of a short track is the median of the end sample, its smoothed
        neighbour and the line through the next two smoothed values extended to it (after Tukey's end
        rule), so a steady drift is not flattened at the ends and a preempted end sample is dropped."""
        logs = np.log(self.ms)
        n = len(logs)
        half = SMOOTH if n >= 17 else (1 if n >= 3 else 0)
        smoothed = np.array([np.median(logs[max(0, i - half):i + half + 1]) for i in range(n)])
        if half == 1:
            smoothed[0] = np.median([logs[0], smoothed[1], 2 * smoothed[1] - smoothed[2]])
            smoothed[-1] = np.median([logs[-1], smoothed[-2], 2 * smoothed[-2] - smoothed[-3]])
        return smoothed

    def factor(self, at: float) -> float:
        """Speed at wall-clock time `at` relative to the level (> 1: slower): the smoothed anchor
        latency, log-linear between the samples that bracket `at` (the nearest one outside them)."""
        return float(np.exp(np.interp(at, self.times, self.smoothed_log))) / self.level_ms

    @property
    def spread(self) -> float:
        """Max / min of the speed factor at the anchors' own times: how much the device moved."""
        factors = np.array([self.factor(t) for t in self.times])
        return float(factors.max() / factors.min())

    def corrected(self, m: Measurement) -> Measurement:
        """The pass at the table's time base: every sample divided by the speed factor at its own time
        (an interleaved pass keeps each sample's, `rounds.measure_interleaved`), else at the pass's mid-time."""
        times = m.meta.get("sample_at") or [mid_time(m)] * m.n
        factors = [self.factor(float(t)) for t in times]
        return replace(m, samples_ms=tuple(s / f for s, f in zip(m.samples_ms, factors)),
                       meta={**m.meta, "speed_factor": log_median(factors)})


class AnchorClock:
    """Times the anchor model (one sample) whenever `tick` finds the last sample old enough, and hands
    each sample to `store`. The interval stretches when a sample is slow, so anchors never take more
    than ~ANCHOR_SHARE of the profile."""

    def __init__(self, job: MeasureJob, sample: Callable[[MeasureJob], Measurement],
                 store: Callable[[Measurement], None], every_s: float | None = None) -> None:
        self.job, self.sample, self.store = job, sample, store
        self.every_s = ANCHOR_EVERY_S if every_s is None else every_s
        self.last_at = -float("inf")
        self.interval_s = self.every_s
        self.count = 0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_at < self.interval_s:
            return
        m = self.sample(self.job)
        self.store(m)
        self.count += 1
        self.last_at = time.monotonic()
        self.interval_s = max(self.every_s, (self.last_at - now) / ANCHOR_SHARE)
