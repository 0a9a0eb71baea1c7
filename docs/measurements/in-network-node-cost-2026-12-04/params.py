import json, sys, pickle
from collections import defaultdict
import numpy as np
import lutnas.latency_tables.context as ctx
from lutnas.spaces import get_space
space = get_space("fbnet"); res = 128; ref = "/tmp/m17y/fbnet-128-onnxruntime"
rows = [r for r in json.load(open(ref + "/v1/report.json"))["rows"] if r["role"] == "score"]
rows2 = [r for r in json.load(open(ref + "/v2/report.json"))["rows"] if r["role"] == "score"]
held = [tuple(r["arch"]) for r in rows]
truth = np.sqrt(np.array([r["corrected"] for r in rows]) * np.array([r["corrected"] for r in rows2]))
profs = pickle.load(open("/tmp/cov/cover-fbnet128-none.pkl", "rb"))
ent = defaultdict(list)
for p in profs:
    for i, k in enumerate(p.block_keys):
        ent[k].append(np.median(p.block_samples_ms(i)))
e = {k: np.median(v) for k, v in ent.items()}
pred = np.array([sum(e[b.key] for b in space.blocks(a, res)) for a in held])
err = truth / pred; err = np.log(err / np.median(err))
def params(a):
    import torch
    m = space.build(a, res, num_classes=1000)
    return sum(p.numel() for p in m.parameters()) * 4 / 1e6
W = np.array([params(a) for a in held])
print("params MB range", W.min(), W.max())
print("corr(err, params) %.2f  corr(err, pred) %.2f" % (np.corrcoef(err, W)[0, 1], np.corrcoef(err, pred)[0, 1]))
for X, name in ((W, "params"), (pred, "pred")):
    A = np.stack([X - X.mean(), np.ones_like(X)], 1); w = np.linalg.lstsq(A, err, rcond=None)[0]
    print(name, "slope", w[0], "resid sd %.2f%% (from %.2f%%)" % (100 * (err - A @ w).std(), 100 * err.std()))
