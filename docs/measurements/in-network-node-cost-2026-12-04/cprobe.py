"""Offline: covering networks profiled once (raw), entries built for several per-node costs c,
held-out archs predicted against validate's ground truth."""
import json, pickle, sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
import numpy as np
import os, lutnas.latency_tables.context as ctx
ctx.GLUE_OWNER = os.environ.get("GLUE", "next")
from lutnas.latency_tables.context import covering_archs, profile_networks, fit_node_cost
from lutnas.latency_tables.jobs import export_networks
from lutnas.spaces import get_space
space_name, res, ref = sys.argv[1], int(sys.argv[2]), sys.argv[3]
space = get_space(space_name)
pk = Path(f"/tmp/cov/cover-{space_name}{res}-{ctx.GLUE_OWNER}.pkl")
if not pk.exists():
    profs = []
    for seed in (0, 1):
        archs = covering_archs(space, 2, seed)
        paths = export_networks(space, archs, res, Path("/tmp/cov/nets") / space.name)
        profs += profile_networks(paths, archs, [[b.key for b in space.blocks(a, res)] for a in archs], repeats=10,
                                  min_repeat_ms=20.0, warmup=3, work_dir=Path("/tmp/cov/nets"))
    pickle.dump(profs, open(pk, "wb"))
profs = pickle.load(open(pk, "rb"))
rows = [r for r in json.load(open(ref + "/v1/report.json"))["rows"] if r["role"] == "score"]
rows2 = [r for r in json.load(open(ref + "/v2/report.json"))["rows"] if r["role"] == "score"]
held = [tuple(r["arch"]) for r in rows]
truth = np.sqrt(np.array([r["corrected"] for r in rows]) * np.array([r["corrected"] for r in rows2]))
L = np.array([p.latency_ms for p in profs]); P = np.array([np.median(p.block_ms, 0).sum() for p in profs])
N = np.array([p.block_nodes.sum() for p in profs])
print("fitted c on all %d: %.2f us; on first half: %.2f us; second: %.2f us" % (len(profs), 1e3 * fit_node_cost(L, P, N),
      1e3 * fit_node_cost(L[:len(L)//2], P[:len(L)//2], N[:len(L)//2]), 1e3 * fit_node_cost(L[len(L)//2:], P[len(L)//2:], N[len(L)//2:])))
def predict(ps, c):
    ent = defaultdict(list)
    for p in ps:
        q = replace(p, node_cost_ms=c)
        for i, k in enumerate(q.block_keys):
            ent[k].append(np.median(q.block_samples_ms(i)))
    e = {k: np.median(v) for k, v in ent.items()}
    return np.array([sum(e[b.key] for b in space.blocks(a, res)) for a in held])
for half, ps in (("seed0", profs[:len(profs)//2]), ("both", profs)):
    for c in (0.0, 0.0015, 0.0025):
        err = predict(ps, c) / truth; err = err / np.median(err) - 1
        print(f"{half} c={c*1e3:.1f}us: sd {err.std():.2%} within5 {np.mean(abs(err)<.05):.0%} max {abs(err).max():.1%}")
