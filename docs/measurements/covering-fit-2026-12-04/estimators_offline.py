"""Offline: table entries by estimator (pooled median vs mean of per-network medians), covering
profiles -> predictions of held-out archs (own-context profiles give their keys and latency)."""
import pickle, sys
from collections import defaultdict
from dataclasses import replace
import numpy as np
name = sys.argv[1]
cov = pickle.load(open(f"/tmp/cov/cover-{name}-none.pkl", "rb"))
cov = [replace(p, node_cost_ms=float(sys.argv[2]) if len(sys.argv) > 2 else 0.0022) for p in cov]
own = pickle.load(open(f"/tmp/cov/own-{name}.pkl", "rb"))
held = defaultdict(dict); held_L = {}
for key, ms in own.entries.items():
    for m in ms:
        a = tuple(m.meta["arch"]); held[a][m.meta["position"]] = key; held_L[a] = m.meta["network_ms"]
per_net = defaultdict(list)   # key -> list of per-network sample arrays
for p in cov:
    for i, k in enumerate(p.block_keys):
        per_net[k].append(np.array(p.block_samples_ms(i)))
est = {
  "pooled median": {k: float(np.median(np.concatenate(v))) for k, v in per_net.items()},
  "mean of net medians": {k: float(np.mean([np.median(x) for x in v])) for k, v in per_net.items()},
  "median of net medians": {k: float(np.median([np.median(x) for x in v])) for k, v in per_net.items()},
  "pooled mean": {k: float(np.mean(np.concatenate(v))) for k, v in per_net.items()},
}
covL = np.array([p.latency_ms for p in cov])
for label, e in est.items():
    pc = np.array([sum(e[k] for k in p.block_keys) for p in cov])
    rc = pc / covL
    archs = [a for a in held if all(k in e for k in held[a].values())]
    ph = np.array([sum(e[k] for k in held[a].values()) for a in archs]); Lh = np.array([held_L[a] for a in archs])
    rh = ph / Lh
    print(f"{name} {label:22s} covering pred/L median {np.median(rc):.4f} mean {rc.mean():.4f} | held-out ({len(archs)}) pred/L mean {rh.mean():.4f} sd {rh.std()/rh.mean():.4f}; held/cov {rh.mean()/np.median(rc):.4f}")
