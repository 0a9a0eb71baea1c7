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
def estimate(x, which):  # sorted x; 0 median, 1 trimmed mean, 2 MAD-filtered mean, 3 min
    if which == 0:
        return quantile(x, 0.5)
    if which == 1:
        return trimmed_mean(x)
    if which == 3:
        return x[0]
    return mad_filter(x)[0]


@_jit
def median_of_minima(xs, starts):  # xs: one entry's samples, each pass sorted; starts: P + 1 pass bounds
    mins = np.empty(starts.size - 1)
    for j in range(mins.size):
        mins[j] = xs[starts[j]]
    return quantile(np.sort(mins), 0.5)


@_jit
def splitmix(state):  # SplitMix64 step -> (new state, output)
    state = state + np.uint64(GOLDEN)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@_jit
def summarise(reps):  # bootstrap replicates -> (2.5%, 97.5% percentile, variance)
    n_boot = reps.size
    reps.sort()
    var = np.var(reps) * n_boot / (n_boot - 1) if n_boot > 1 else 0.0
    return quantile(reps, 0.025), quantile(reps, 0.975), var


@_jit
def bootstrap(x, which, n_boot, state):  # sorted pooled x -> summarise() of `estimate` over resamples
    n = x.size
    reps = np.empty(n_boot)
    res = np.empty(n)
    for b in range(n_boot):
        for j in range(n):
            state, r = splitmix(state)
            res[j] = x[np.int64(r % np.uint64(n))]
        reps[b] = estimate(np.sort(res), which)
    return summarise(reps)


@_jit
def bootstrap_minima(xs, starts, n_boot, state):  # resample within each (sorted) pass, median of minima
    reps = np.empty(n_boot)
    mins = np.empty(starts.size - 1)
    for b in range(n_boot):
        for j in range(mins.size):
            n = np.uint64(starts[j + 1] - starts[j])
            low = np.inf
            for _ in range(starts[j + 1] - starts[j]):
                state, r = splitmix(state)
                low = min(low, xs[starts[j] + np.int64(r % n)])
            mins[j] = low
        reps[b] = quantile(np.sort(mins), 0.5)
    return summarise(reps)


@_jit
def sorted_passes(seg, starts):  # each pass of one entry sorted in place of a copy
    xs = seg.copy()
    for j in range(starts.size - 1):
        xs[starts[j]:starts[j + 1]] = np.sort(seg[starts[j]:starts[j + 1]])
    return xs


@numba.njit(parallel=True, cache=True, nogil=True)
def stats_kernel(samples, offsets, pass_offsets, which, n_boot, seed):
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
        _, start = splitmix(seed ^ (np.uint64(i) * np.uint64(GOLDEN)))
        if which == 4:  # median of the passes' minima: resampled within passes
            a = np.searchsorted(pass_offsets, offsets[i])
            b = np.searchsorted(pass_offsets, offsets[i + 1])
            starts = pass_offsets[a:b + 1] - offsets[i]
            xs = sorted_passes(samples[offsets[i]:offsets[i + 1]], starts)
            est[i] = median_of_minima(xs, starts)
            lo[i], hi[i], var[i] = bootstrap_minima(xs, starts, n_boot, start)
        else:
            est[i] = estimate(x, which)
            lo[i], hi[i], var[i] = bootstrap(x, which, n_boot, start)
    return kept, med, tmean, mmean, p10, p90, est, lo, hi, var


# -- prediction ------------------------------------------------------------------------------------------
# Archs arrive as int8 [N, L] (C order) and index a padded table: layer l's slot for choice c is
# l * 256 + 128 + c, and every slot that is not a choice of the layer holds NaN, so ANY int8 value
# is a safe index and an invalid choice turns the arch's sum into NaN with no branch in the loop.
# Indices are unsigned (numba adds a negative-index wraparound branch to signed ones). Each parallel
# iteration sums FOUR archs side by side, one layer at a time: four independent add chains keep the
# floating-point adder busy where one arch's chain would serialise on add latency. Outputs are
# allocated by the caller (numpy) and passed in; an array allocated inside the kernel by numba's
# runtime cost ~20% at 10M archs. Measured on this 2-core VM, 10M proxyless archs: one arch with
# three partial sums and an in-kernel output 86 M archs/s; caller's output 96-107; two archs per
# iteration 116-120; four archs 135 (probe scripts, same run).
PAD = 256
_OFF = 128
_WAY = 4   # archs per parallel iteration


@_jit
def _slot(flat, row, layer, base):
    return base + np.uint64(np.int64(flat[row + layer]))


@numba.njit(parallel=True, cache=True, fastmath=_FAST, nogil=True, boundscheck=False)
def latency_kernel(archs, tab, fixed, out):
    """out[i] = fixed + sum_l tab[l * 256 + 128 + archs[i, l]]; -> number of 4-arch groups with a NaN."""
    n, num_layers = archs.shape
    flat = archs.ravel()
    u_l = np.uint64(num_layers)
    bad = 0
    for g in numba.prange((n + _WAY - 1) // _WAY):
        first = g * _WAY
        # a short last group re-reads its last arch; the duplicate writes are to the same value
        r0 = np.uint64(first) * u_l
        r1 = np.uint64(min(first + 1, n - 1)) * u_l
        r2 = np.uint64(min(first + 2, n - 1)) * u_l
        r3 = np.uint64(min(first + 3, n - 1)) * u_l
        s0 = fixed
        s1 = fixed
        s2 = fixed
        s3 = fixed
        base = np.uint64(_OFF)
        for layer in range(num_layers):
            u = np.uint64(layer)
            s0 += tab[_slot(flat, r0, u, base)]
            s1 += tab[_slot(flat, r1, u, base)]
            s2 += tab[_slot(flat, r2, u, base)]
            s3 += tab[_slot(flat, r3, u, base)]
            base += np.uint64(PAD)
        out[first] = s0
        out[min(first + 1, n - 1)] = s1
        out[min(first + 2, n - 1)] = s2
        out[min(first + 3, n - 1)] = s3
        if np.isnan(s0 + s1 + s2 + s3):
            bad += 1
    return bad


@numba.njit(parallel=True, cache=True, fastmath=_FAST, nogil=True, boundscheck=False)
def predict_kernel(archs, tab, var_tab, fixed, fixed_var, z, rel, out, low, high):
    """Fill latency, low, high per arch (same layout; variances add; z * sqrt(var + (rel * lat)^2))."""
    n, num_layers = archs.shape
    flat = archs.ravel()
    u_l = np.uint64(num_layers)
    bad = 0
    for g in numba.prange((n + 1) // 2):
        first = 2 * g
        second = min(first + 1, n - 1)
        r0 = np.uint64(first) * u_l
        r1 = np.uint64(second) * u_l
        s0 = fixed
        s1 = fixed
        v0 = fixed_var
        v1 = fixed_var
        base = np.uint64(_OFF)
        for layer in range(num_layers):
            j0 = _slot(flat, r0, np.uint64(layer), base)
            j1 = _slot(flat, r1, np.uint64(layer), base)
            s0 += tab[j0]
            s1 += tab[j1]
            v0 += var_tab[j0]
            v1 += var_tab[j1]
            base += np.uint64(PAD)
        half0 = z * np.sqrt(v0 + (rel * s0) * (rel * s0))
        half1 = z * np.sqrt(v1 + (rel * s1) * (rel * s1))
        out[first] = s0
        low[first] = s0 - half0
        high[first] = s0 + half0
        out[second] = s1
        low[second] = s1 - half1
        high[second] = s1 + half1
        if np.isnan(s0 + s1):
            bad += 1
    return bad
