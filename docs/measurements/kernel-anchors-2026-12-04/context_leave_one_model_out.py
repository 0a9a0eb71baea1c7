"""Offline: goal 1 with the context fitted leave-one-model-out: global two-term vs per-kind factors."""
import sys, json
import numpy as np
from lutnas.latency_tables.kernel_table import open_kernel_table
from lutnas.latency_tables.kernel_model import learning_kind, fit_context
from lutnas.profiler.stability import verdict
GROUPS = {"conv": "conv", "depthwise": "depthwise", "matmul": "matmul"}
for run in sys.argv[1:]:
    measured = json.load(open(f"{run}/summary.json"))["measured"]
    t = open_kernel_table(f"{run}/kernels.db", None, "linear", "probes", False)
    est, fc = t.estimates(), t.fixed_cost()
    names, parts, F, W, V, M = [], [], [], [], [], []
    for row in t.ks.models(t.id, role="model"):
        p = {}
        for k, c in zip(row.kernels.kernels, row.kernels.calls):
            g = GROUPS.get(learning_kind(k), "other"); p[g] = p.get(g, 0) + c * est[k.signature]
        names.append(row.name); parts.append([p.get(g, 0) for g in ("conv", "depthwise", "matmul", "other")])
        F.append(fc.cost_ms(row.kernels.vm_calls)); W.append(verdict(t.model_passes[(row.id, "model")], t.policy).median_ms)
        V.append(row.kernels.vm_calls); M.append(measured[row.name])
    P, F, W, V, M = map(np.array, (parts, F, W, V, M))
    K = P.sum(1)
    res = {"none": [], "global": [], "perkind": []}
    for i in range(len(names)):
        o = np.arange(len(names)) != i
        ctx = fit_context(K[o], W[o] - F[o], V[o])
        res["none"].append((K[i] + F[i]) / M[i] - 1)
        res["global"].append((ctx.factor * K[i] + ctx.per_call_ms * V[i] + F[i]) / M[i] - 1)
        X = np.column_stack([P[o], V[o]]) / W[o][:, None]
        coef, *_ = np.linalg.lstsq(X, (W[o] - F[o]) / W[o], rcond=None)
        coef = np.where(np.abs(coef) > 0, coef, 0)
        res["perkind"].append((P[i] @ coef[:4] + coef[4] * V[i] + F[i]) / M[i] - 1)
    for k, v in res.items():
        v = np.array(v)
        print(f"{run.split('/')[-1]} {k:8s} LOO-context goal1 {np.sum(np.abs(v) <= .05)}/32 rmspe {np.sqrt(np.mean(v**2)):.1%} max {np.abs(v).max():.1%}")
    t.ks.store.close()
