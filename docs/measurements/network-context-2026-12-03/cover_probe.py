"""Covering networks and held-out networks measured together (one interleaved run) against a hot
block table: global context scale vs per-cell context factors, on the held-out archs."""
import sys, json, numpy as np
from lutnas.latency_tables.table import open_table
from lutnas.latency_tables.networks import measure_for_table
from lutnas.latency_tables.context import covering_archs
from lutnas.spaces import get_space

def main():
    db, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    table = open_table(db)
    space = get_space(table.meta.space)
    cover = covering_archs(space, 2, 0)
    rng = np.random.default_rng(seed)
    held = [space.sample(rng) for _ in range(n)]
    archs = [tuple(a) for a in cover] + [tuple(a) for a in held]
    meas = measure_for_table(table, archs, progress=False)
    m = np.array([x.latency_ms for x in meas])
    json.dump({"archs": [list(map(int, a)) for a in archs], "ms": m.tolist(), "ncover": len(cover)},
              open(sys.argv[4], "w"))
    dense = table.dense()
    p = dense.predict_latency(np.asarray(archs, dtype=np.int64))
    nc = len(cover)
    r = m / p
    g = float(np.exp(np.median(np.log(r[:nc]))))
    L = dense.latency_ms
    logf = {}
    for i in range(nc):
        for l, c in enumerate(archs[i]):
            logf.setdefault((l, c), []).append(np.log(r[i]))
    def per_cell(a):
        tot = dense.fixed_ms * g
        for l, c in enumerate(a):
            f = np.exp(np.mean(logf[(l, c)])) if (l, c) in logf else g
            tot += L[l, c] * f
        return tot
    pc = np.array([per_cell(a) for a in archs])
    def share(pred, lo, hi):
        e = pred[lo:hi] / m[lo:hi] - 1
        return f"±10% {np.mean(abs(e) <= .10):4.0%} ±5% {np.mean(abs(e) <= .05):4.0%} bias {np.median(e):+.1%} MAPE {np.mean(abs(e)):.1%}"
    print(f"covering {nc}, held-out {n}; global scale {g:.3f} (covering ratios {r[:nc].min():.3f}-{r[:nc].max():.3f})")
    print("hot table  held:", share(p, nc, None))
    print("global     held:", share(p * g, nc, None))
    print("per-cell   held:", share(pc, nc, None))
    print("per-cell   cover:", share(pc, 0, nc))

if __name__ == "__main__":
    main()
