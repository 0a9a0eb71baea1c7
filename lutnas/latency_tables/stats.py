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
when none was). "min" is the fastest sample; "median_of_round_minima" takes the fastest sample of
every pass (round) and the median of those, so one slow round moves it no more than one fast one.
That estimator needs to know where each pass starts: `pass_offsets` (every entry offset is also a
pass offset); without them each entry is one pass. Its bootstrap resamples within each pass.
`bench/retest.py` compares all of them by how well they repeat on this machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lutnas.errors import TableError

ESTIMATORS = {"median": 0, "trimmed_mean": 1, "mad_mean": 2, "min": 3, "median_of_round_minima": 4}
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


def check_estimator(name: str) -> str:
    """`name` when it is an estimator, else a TableError listing them (before anything is measured)."""
    if name not in ESTIMATORS:
        raise TableError(f"unknown estimator {name!r}; valid: {', '.join(ESTIMATORS)}")
    return name


def flatten_passes(entries: Sequence[Sequence[Sequence[float]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-entry lists of passes -> (samples, entry offsets, pass offsets) for `entry_stats`."""
    samples, pass_offsets = flatten([p for passes in entries for p in passes])
    per_entry = np.fromiter((len(passes) for passes in entries), dtype=np.int64, count=len(entries))
    first_pass = np.zeros(len(entries) + 1, dtype=np.int64)
    np.cumsum(per_entry, out=first_pass[1:])
    return samples, pass_offsets[first_pass], pass_offsets


def entry_stats(samples: np.ndarray, offsets: np.ndarray, estimator: str = DEFAULT_ESTIMATOR,
                n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_SEED,
                pass_offsets: np.ndarray | None = None) -> EntryStats:
    """Statistics of every segment of `samples` (see the module docstring)."""
    check_estimator(estimator)
    samples = np.ascontiguousarray(samples, dtype=np.float64)
    offsets = _check_offsets(offsets, samples.size, "offsets")
    passes = offsets if pass_offsets is None else _check_offsets(pass_offsets, samples.size, "pass offsets")
    if not np.isin(offsets, passes).all():
        raise TableError("statistics need every entry offset to start a pass")
    if not np.all(np.isfinite(samples)):
        raise TableError("statistics need finite samples")
    if n_boot < 1:
        raise TableError("statistics need n_boot >= 1")
    from lutnas.latency_tables.kernels import stats_kernel

    out = stats_kernel(samples, offsets, passes, ESTIMATORS[estimator], int(n_boot), np.uint64(seed))
    return EntryStats(np.diff(offsets), out[0].astype(np.int64), *out[1:], estimator=estimator)


def estimates(entries: Sequence[Sequence[Sequence[float]]], estimator: str = DEFAULT_ESTIMATOR) -> np.ndarray:
    """The point estimate of every entry (a list of passes of samples), with the table's kernel."""
    if not entries:
        return np.zeros(0)
    samples, offsets, pass_offsets = flatten_passes(entries)
    return entry_stats(samples, offsets, estimator, n_boot=1, pass_offsets=pass_offsets).estimate


def _check_offsets(offsets: np.ndarray, size: int, what: str) -> np.ndarray:
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != size or (np.diff(offsets) < 1).any():
        raise TableError(f"statistics need {what} 0 = o[0] < o[1] < ... < o[M] = len(samples) (no empty entry)")
    return offsets
