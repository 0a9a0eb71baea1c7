"""Offline: goal 1 under context variants (ratio vs ratio + per-call term), from a run's table and ground truth."""
import sys, json
import numpy as np
from lutnas.latency_tables.kernel_table import open_kernel_table
from lutnas.profiler.stability import verdict
for run in sys.argv[1:]:
    measured = json.load(open(f"{run}/summary.json"))["measured"]
    t = open_kernel_table(f"{run}/kernels.db", None, "linear", "probes", False)
    est, fc = t.estimates(), t.fixed_cost()
    rows = []
    for row in t.ks.models(t.id, role="model"):
        K = sum(c * est[k.signature] for k, c in zip(row.kernels.kernels, row.kernels.calls))
        W = verdict(t.model_passes[(row.id, "model")], t.policy).median_ms
        rows.append((row.name, K, fc.cost_ms(row.kernels.vm_calls), W, row.kernels.vm_calls, measured[row.name]))
    K, F, W, V, M = (np.array([r[i] for r in rows]) for i in range(1, 6))
    ratio = float(np.exp(np.median(np.log((W - F) / K))))
    w = 1 / W
    A = np.stack([K, V], 1) * w[:, None]; c, d = np.linalg.lstsq(A, (W - F) * w, rcond=None)[0]
    for name, pred in [("none", K + F), ("ratio", ratio * K + F), ("ratio+call", c * K + d * V + F)]:
        rel = pred / M - 1
        print(f"{run.split('/')[-1]} {name:10s} within5 {np.sum(np.abs(rel) <= .05)}/32 rmspe {np.sqrt(np.mean(rel**2)):.1%} max {np.max(np.abs(rel)):.1%}  " + (f"c={c:.3f} d={d*1e3:.3f}us" if name=="ratio+call" else f"ratio={ratio:.3f}" if name=="ratio" else ""))
    t.ks.store.close()
