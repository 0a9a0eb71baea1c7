"""The numba kernels of latency_tables, on plain NumPy arrays (imported lazily: it imports numba).

Module-level `@njit(cache=True)` functions so the compiled machine code is cached on disk and a
second process starts in well under a second. Callers: `stats.entry_stats` (`stats_kernel`) and
`DenseTable.predict` / `predict_latency` (`predict_kernel`, `latency_kernel`); the semantics are
documented there and tested against a numpy reference in tests/test_tables.py.
"""

from __future__ import annotations

import numba
import numpy as np

TRIM = 0.10
MAD_CUTOFF = 3.5
MAD_SCALE = 1.4826
GOLDEN = 0x9E3779B97F4A7C15
_FAST = {"reassoc", "contract", "arcp"}   # no nnan / ninf: NaN marks invalid archs

_jit = numba.njit(cache=True, nogil=True)


# -- statistics ------------------------------------------------------------------------------------------
@_jit
def quantile(x, q):  # sorted x; numpy's linear method
    pos = (x.size - 1) * q
    lo = int(np.floor(pos))
    hi = min(lo + 1, x.size - 1)
    return x[lo] + (x[hi] - x[lo]) * (pos - lo)


@_jit
def trimmed_mean(x):  # sorted x
    k = int(TRIM * x.size)
    return np.mean(x[k:x.size - k])


@_jit
def mad_filter(x):  # sorted x -> (mean of kept samples, kept count)
    med = quantile(x, 0.5)
    dev = np.sort(np.abs(x - med))
    mad = quantile(dev, 0.5)
    if mad == 0.0:
        return np.mean(x), x.size
    cut = MAD_CUTOFF * MAD_SCALE * mad
    total = 0.0
    kept = 0
    for v in x:
        if abs(v - med) <= cut:
            total += v
            kept += 1
    return total / kept, kept


@_jit
def estimate(x, which):  # sorted x; 0 median, 1 trimmed mean, 2 MAD-filtered mean
    if which == 0:
        return quantile(x, 0.5)
    if which == 1:
        return trimmed_mean(x)
    return mad_filter(x)[0]


@_jit
def splitmix(state):  # SplitMix64 step -> (new state, output)
    state = state + np.uint64(GOLDEN)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@_jit
def bootstrap(x, which, n_boot, state):  # sorted x -> (2.5%, 97.5% percentile, variance) of `estimate`
    n = x.size
    reps = np.empty(n_boot)
    res = np.empty(n)
    for b in range(n_boot):
        for j in range(n):
            state, r = splitmix(state)
            res[j] = x[np.int64(r % np.uint64(n))]
        reps[b] = estimate(np.sort(res), which)
    reps.sort()
    var = np.var(reps) * n_boot / (n_boot - 1) if n_boot > 1 else 0.0
    return quantile(reps, 0.025), quantile(reps, 0.975), var


@numba.njit(parallel=True, cache=True, nogil=True)
def stats_kernel(samples, offsets, which, n_boot, seed):
    m = offsets.size - 1
    kept = np.empty(m)
    med = np.empty(m)
    tmean = np.empty(m)
    mmean = np.empty(m)
    p10 = np.empty(m)
    p90 = np.empty(m)
    est = np.empty(m)
    lo = np.empty(m)
    hi = np.empty(m)
    var = np.empty(m)
    for i in numba.prange(m):
        x = np.sort(samples[offsets[i]:offsets[i + 1]])
        med[i] = quantile(x, 0.5)
        tmean[i] = trimmed_mean(x)
        mmean[i], k = mad_filter(x)
        kept[i] = k
        p10[i] = quantile(x, 0.1)
        p90[i] = quantile(x, 0.9)
        est[i] = estimate(x, which)
        _, start = splitmix(seed ^ (np.uint64(i) * np.uint64(GOLDEN)))
        lo[i], hi[i], var[i] = bootstrap(x, which, n_boot, start)
    return kept, med, tmean, mmean, p10, p90, est, lo, hi, var


# -- prediction ------------------------------------------------------------------------------------------
# Archs arrive as int8 [N, L] (C order) and index a padded table: layer l's slot for choice c is
# l * 256 + 128 + c, and every slot that is not a choice of the layer holds NaN, so ANY int8 value
# is a safe index and an invalid choice turns the arch's sum into NaN with no branch in the loop.
# Indices are unsigned (numba adds a negative-index wraparound branch to signed ones), and the
# layer loop keeps three independent partial sums so floating-point add latency does not serialise
# it. Measured single-core: ~15 M archs/s (signed, checked, one chain) -> ~55 M archs/s.
PAD = 256
_OFF = 128


@numba.njit(parallel=True, cache=True, fastmath=_FAST, nogil=True, boundscheck=False)
def latency_kernel(archs, tab, fixed):
    """fixed + sum_l tab[l * 256 + 128 + archs[i, l]] per arch; -> (latency [N], count of NaN rows)."""
    n, num_layers = archs.shape
    flat = archs.ravel()
    out = np.empty(n)
    u_l = np.uint64(num_layers)
    step = np.uint64(PAD)
    bad = 0
    for i in numba.prange(n):
        row = np.uint64(i) * u_l
        s0 = fixed
        s1 = 0.0
        s2 = 0.0
        layer = np.uint64(0)
        base = np.uint64(_OFF)
        while layer + np.uint64(3) <= u_l:
            s0 += tab[base + np.uint64(np.int64(flat[row + layer]))]
            s1 += tab[base + step + np.uint64(np.int64(flat[row + layer + np.uint64(1)]))]
            s2 += tab[base + step + step + np.uint64(np.int64(flat[row + layer + np.uint64(2)]))]
            layer += np.uint64(3)
            base += step + step + step
        while layer < u_l:
            s0 += tab[base + np.uint64(np.int64(flat[row + layer]))]
            layer += np.uint64(1)
            base += step
        s = s0 + s1 + s2
        out[i] = s
        if np.isnan(s):
            bad += 1
    return out, bad


@numba.njit(parallel=True, cache=True, fastmath=_FAST, nogil=True, boundscheck=False)
def predict_kernel(archs, tab, var_tab, fixed, fixed_var, z, rel):
    """Latency, low, high per arch (same table layout; variances add; z * sqrt(var + (rel * lat)^2))."""
    n, num_layers = archs.shape
    flat = archs.ravel()
    out = np.empty(n)
    low = np.empty(n)
    high = np.empty(n)
    u_l = np.uint64(num_layers)
    step = np.uint64(PAD)
    bad = 0
    for i in numba.prange(n):
        row = np.uint64(i) * u_l
        s0 = fixed
        s1 = 0.0
        v0 = fixed_var
        v1 = 0.0
        layer = np.uint64(0)
        base = np.uint64(_OFF)
        while layer + np.uint64(2) <= u_l:
            j0 = base + np.uint64(np.int64(flat[row + layer]))
            j1 = base + step + np.uint64(np.int64(flat[row + layer + np.uint64(1)]))
            s0 += tab[j0]
            s1 += tab[j1]
            v0 += var_tab[j0]
            v1 += var_tab[j1]
            layer += np.uint64(2)
            base += step + step
        if layer < u_l:
            j0 = base + np.uint64(np.int64(flat[row + layer]))
            s0 += tab[j0]
            v0 += var_tab[j0]
        s = s0 + s1
        v = v0 + v1 + (rel * s) * (rel * s)
        half = z * np.sqrt(v)
        out[i] = s
        low[i] = s - half
        high[i] = s + half
        if np.isnan(s):
            bad += 1
    return out, low, high, bad
