"""Offline: a successor effect per block (t_i = e_{b_i} + d_{b_{i-1}}), fitted by ridge least squares
on the covering networks' in-network block times; held-out archs predicted against validate's truth."""
import json, pickle, sys
from collections import defaultdict
from dataclasses import replace
import numpy as np
from scipy.sparse import lil_matrix
from scipy.sparse.linalg import lsqr
from lutnas.spaces import get_space
space_name, res = sys.argv[1], int(sys.argv[2])
space = get_space(space_name)
profs = [replace(p, node_cost_ms=0.0022) for p in pickle.load(open(f"/tmp/cov/cover-{space_name}{res}-none.pkl", "rb"))]
ref = f"/tmp/m17y/{space_name}-{res}-onnxruntime"
rows = [r for r in json.load(open(ref + "/v1/report.json"))["rows"] if r["role"] == "score"]
rows2 = [r for r in json.load(open(ref + "/v2/report.json"))["rows"] if r["role"] == "score"]
held = [tuple(r["arch"]) for r in rows]
truth = np.sqrt(np.array([r["corrected"] for r in rows]) * np.array([r["corrected"] for r in rows2]))
keys = sorted({k for p in profs for k in p.block_keys}); idx = {k: i for i, k in enumerate(keys)}; K = len(keys)
obs = []
for p in profs:
    t = [np.median(p.block_samples_ms(i)) for i in range(len(p.block_keys))]
    for i, k in enumerate(p.block_keys):
        obs.append((idx[k], idx[p.block_keys[i - 1]] if i else None, t[i]))
def fit(lam, succ=True):
    A = lil_matrix((len(obs) + K, 2 * K)); y = np.zeros(len(obs) + K)
    for r, (b, prev, t) in enumerate(obs):
        w = 1.0 / max(t, 1e-3)          # relative errors
        A[r, b] = w; y[r] = t * w
        if succ and prev is not None:
            A[r, K + prev] = w
    for j in range(K):
        A[len(obs) + j, K + j] = lam    # ridge on the successor effects
    sol = lsqr(A.tocsr(), y, atol=1e-12, btol=1e-12, iter_lim=20000)[0]
    return sol[:K], sol[K:]
def predict(e, d, arch):
    ks = [b.key for b in space.blocks(arch, res)]
    return sum(e[idx[k]] for k in ks) + sum(d[idx[k]] for k in ks[:-1])
for lam in (None, 0.3, 0.1, 0.03, 0.01):
    e, d = fit(lam or 1.0, succ=lam is not None)
    p = np.array([predict(e, d, a) for a in held])
    err = p / truth; err = err / np.median(err) - 1
    print(f"lambda {lam}: error sd {err.std():.2%}, within5 {np.mean(abs(err) < .05):.0%}, max {abs(err).max():.1%}")
