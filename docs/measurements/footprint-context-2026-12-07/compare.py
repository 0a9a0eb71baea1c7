"""Three models of one table scored on validate reports (the same round-corrected latencies): per-cell
factors over the covering networks only (the model before 12-07), per-cell factors over all the
context's networks (footprint ones included), and the footprint fit (the model now)."""
import json, sys
from dataclasses import replace
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.latency_tables import network_context as nc
from lutnas.latency_tables.context import covering_archs
from lutnas.spaces import get_space

t = open_table(sys.argv[1])
ctx = nc.stored_context(t)
n_cover = len(covering_archs(get_space(t.meta.space), nc.COVER_ROUNDS, nc.COVER_SEED))
hot = t.dense(context=False)
hot = replace(hot, latency_ms=hot.latency_ms, fixed_ms=hot.fixed_ms)
cover_only = replace(ctx, archs=ctx.archs[:n_cover], ms=ctx.ms[:n_cover], ratios=ctx.ratios[:n_cover])
real = nc.context_weights
nc.context_weights = lambda layout, c: None
models = {"per-cell, covering only": None, "per-cell, all networks": t.dense()}
nc.stored_context = lambda table: cover_only
models["per-cell, covering only"] = t.dense()
nc.context_weights = real
nc.stored_context = lambda table: ctx
models["footprint fit"] = t.dense()
print(f"{len(ctx.archs)} context networks, {n_cover} covering")
for f in sys.argv[2:]:
    rep = json.load(open(f))
    archs = np.array([r["arch"] for r in rep["rows"]])
    meas = np.array([r["corrected"] for r in rep["rows"]])
    for name, d in models.items():
        e = d.predict_latency(archs) / meas - 1
        print(f"{f.split('/')[-2]:10s} {name:24s} MAPE {100*np.abs(e).mean():4.1f}% bias {100*e.mean():+5.1f}% "
              f"max|e| {100*np.abs(e).max():4.1f}%  " + " ".join(f"{100*x:+.0f}" for x in e))
# variant: the footprint fit with per-cell residual factors (geometric mean of network / fit over the networks a cell sits in)
fp = models["footprint fit"]
archs_c = np.asarray(ctx.archs)
fit_pred = fp.predict_latency(archs_c)
log_res = np.log(np.asarray(ctx.ms) / fit_pred)
sums = np.zeros(fp.latency_ms.shape); cnt = np.zeros(fp.latency_ms.shape); rows = np.arange(archs_c.shape[1])
for a, lr in zip(archs_c, log_res):
    sums[rows, a] += lr; cnt[rows, a] += 1
for shrink in (1.0, 0.5):
    res = np.where(cnt > 0, np.exp(shrink * sums / np.maximum(cnt, 1)), 1.0)
    d = replace(fp, latency_ms=fp.latency_ms * res, fixed_ms=fp.fixed_ms)
    for f in sys.argv[2:]:
        rep = json.load(open(f))
        archs = np.array([r["arch"] for r in rep["rows"]]); meas = np.array([r["corrected"] for r in rep["rows"]])
        e = d.predict_latency(archs) / meas - 1
        print(f"{f.split('/')[-2]:10s} fit+residuals x{shrink}      MAPE {100*np.abs(e).mean():4.1f}% bias {100*e.mean():+5.1f}% max|e| {100*np.abs(e).max():4.1f}%")
