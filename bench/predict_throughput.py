"""Batch latency prediction throughput: lutnas' numba kernel vs a numpy gather-sum, same archs, one run.

Both compute `fixed + sum_l LUT[l, arch[l]]` for N random archs of a space's layout (default: 10M
archs of proxyless, 21 layers) stored as int8 [N, L]. numba: `DenseTable.predict_latency` (parallel,
all cores numba sees) and, reported separately, `DenseTable.predict` (with the interval). numpy:
the idiomatic vectorised gather `lut.ravel()[archs + layer_offsets].sum(1)`, in chunks of 256k archs
so its int64 index array fits in memory. Both write into one preallocated output array, as a search
loop does batch after batch; numba into a fresh array per call is printed too. Each is warmed up,
then timed `--repeats` times (best kept).
The table is the measured one given with --db, else a synthetic table of the space's layout at its
default resolution (lutnas.latency_tables.synthetic; throughput does not depend on the values).

Last line: numba_archs_per_s=<x> numpy_archs_per_s=<y> ratio=<x/y>
"""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lutnas.latency_tables import DenseTable


def layout_table(space_name: str, db: str | None) -> DenseTable:
    """The measured table of `db`, else a synthetic one: the timing needs only the layout."""
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.synthetic import synthetic_table
    from lutnas.spaces import get_space

    if db:
        return open_table(db).dense()
    return synthetic_table(get_space(space_name))


def numpy_gather_sum(archs: np.ndarray, lut: np.ndarray, fixed: float, out: np.ndarray,
                     chunk: int = 1 << 18) -> np.ndarray:
    flat = np.nan_to_num(lut, nan=0.0).ravel()
    offsets = (np.arange(lut.shape[0]) * lut.shape[1]).astype(np.intp)
    for start in range(0, archs.shape[0], chunk):
        part = out[start:start + chunk]
        flat[archs[start:start + chunk] + offsets].sum(axis=1, out=part)
        part += fixed
    return out


def best_rate(fn, n: int, repeats: int) -> tuple[float, np.ndarray, float]:
    """(archs per wall second, result, archs per CPU second of this process) of the fastest repeat."""
    best, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, used
    return n / best, result, n / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--db", default=None, help="use this measured table instead of a layout-only one")
    ap.add_argument("-n", "--archs", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import numba

    table = layout_table(args.space, args.db)
    rng = np.random.default_rng(args.seed)
    archs = (rng.random((args.archs, table.num_layers)) * table.num_choices).astype(np.int8)
    nb_out, np_out = np.zeros(args.archs), np.zeros(args.archs)   # touched once, reused by every repeat
    table.predict_latency(archs[:1000])                      # warm-up: JIT / cache load, thread pool
    table.predict(archs[:1000])
    numpy_gather_sum(archs[:1000], table.latency_ms, table.fixed_ms, np_out[:1000])

    nb_rate, nb, nb_cpu = best_rate(lambda: table.predict_latency(archs, out=nb_out), args.archs, args.repeats)
    np_rate, ref, np_cpu = best_rate(lambda: numpy_gather_sum(archs, table.latency_ms, table.fixed_ms, np_out),
                                     args.archs, args.repeats)
    fresh_rate, _, _ = best_rate(lambda: table.predict_latency(archs), args.archs, args.repeats)
    full_rate, full, _ = best_rate(lambda: table.predict(archs), args.archs, args.repeats)
    err = float(np.max(np.abs(nb - ref) / ref))
    assert err < 1e-12 and np.allclose(full.latency_ms, nb, rtol=1e-12, atol=0), "numba and numpy disagree"
    print(f"space {table.space}: {args.archs} archs x {table.num_layers} layers (int8), "
          f"{numba.get_num_threads()} numba thread(s), {os.cpu_count()} CPU(s); max rel diff {err:.1e}")
    print(f"numba point estimates into a fresh array per call: {fresh_rate / 1e6:.1f} M archs/s; "
          f"with the interval (three fresh arrays): {full_rate / 1e6:.1f} M archs/s")
    print(f"per CPU-second of this process (a loaded machine shows wall << cpu): numba {nb_cpu / 1e6:.1f} M, "
          f"numpy {np_cpu / 1e6:.1f} M; load average {os.getloadavg()[0]:.2f}")
    print(f"numba_archs_per_s={nb_rate:.4g} numpy_archs_per_s={np_rate:.4g} ratio={nb_rate / np_rate:.2f}")


if __name__ == "__main__":
    main()
