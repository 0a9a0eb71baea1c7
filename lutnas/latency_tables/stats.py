"""Robust statistics of every table entry at once: numba kernels over one flat samples array.

All entries' samples are concatenated into one float64 array with int64 `offsets` (entry i owns
`samples[offsets[i]:offsets[i+1]]`), and one parallel kernel computes, per entry: the median, the
10% trimmed mean, the mean after MAD outlier rejection (Hampel / Iglewicz-Hoaglin: drop samples with
|x - median| > 3.5 * 1.4826 * MAD; nothing is dropped when MAD = 0), the 10th/90th percentiles
(linear interpolation, numpy's default), and a percentile bootstrap (Efron) of the table's point
estimate: its 95% interval and its variance, which is what `DenseTable.var_ms2` holds.

The bootstrap is deterministic: each entry draws from its own SplitMix64 stream seeded by
(seed, entry index), so results do not depend on thread count or scheduling. A plain numpy version
of every statistic lives only in tests/test_tables.py and must agree to ~1e-12.

Which estimator a table uses is recorded in its options (`estimator`, default "median", pooled over
the passes the profiler's stability verdict kept: the passes stable on their own, or all of them
when none was).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lutnas.errors import TableError

ESTIMATORS = {"median": 0, "trimmed_mean": 1, "mad_mean": 2}
DEFAULT_ESTIMATOR = "median"
DEFAULT_BOOT = 1000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class EntryStats:
    """Per-entry statistics, each an array of length M (entries in input order)."""

    count: np.ndarray          # int64: samples pooled
    kept: np.ndarray           # int64: samples left after MAD rejection
    median: np.ndarray
    trimmed_mean: np.ndarray
    mad_mean: np.ndarray
    p10: np.ndarray
    p90: np.ndarray
    estimate: np.ndarray       # the chosen estimator's value
    boot_low: np.ndarray       # bootstrap 95% interval of `estimate`
    boot_high: np.ndarray
    var: np.ndarray            # bootstrap variance of `estimate` (ms^2)
    estimator: str

    def row(self, i: int) -> dict[str, float]:
        names = ("count", "kept", "median", "trimmed_mean", "mad_mean", "p10", "p90", "estimate",
                 "boot_low", "boot_high", "var")
        return {n: (int if n in ("count", "kept") else float)(getattr(self, n)[i]) for n in names}


def flatten(groups: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate per-entry sample lists into (samples float64[S], offsets int64[M + 1])."""
    sizes = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    offsets = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    samples = np.fromiter((float(x) for g in groups for x in g), dtype=np.float64, count=int(offsets[-1]))
    return samples, offsets


def entry_stats(samples: np.ndarray, offsets: np.ndarray, estimator: str = DEFAULT_ESTIMATOR,
                n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_SEED) -> EntryStats:
    """Statistics of every segment of `samples` (see the module docstring)."""
    if estimator not in ESTIMATORS:
        raise TableError(f"unknown estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}")
    samples = np.ascontiguousarray(samples, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    sizes = np.diff(offsets)
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != samples.size or (sizes < 1).any():
        raise TableError("statistics need offsets 0 = o[0] < o[1] < ... < o[M] = len(samples) (no empty entry)")
    if not np.all(np.isfinite(samples)):
        raise TableError("statistics need finite samples")
    from lutnas.latency_tables.kernels import stats_kernel

    out = stats_kernel(samples, offsets, ESTIMATORS[estimator], int(n_boot), np.uint64(seed))
    return EntryStats(sizes.astype(np.int64), out[0].astype(np.int64), *out[1:], estimator=estimator)
