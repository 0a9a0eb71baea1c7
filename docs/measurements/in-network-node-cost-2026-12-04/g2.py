import json, sys
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.spaces import get_space
space = get_space("fbnet"); ref = "/tmp/m17y/fbnet-128-onnxruntime"
rows = [r for r in json.load(open(ref + "/v1/report.json"))["rows"] if r["role"] == "score"]
rows2 = [r for r in json.load(open(ref + "/v2/report.json"))["rows"] if r["role"] == "score"]
archs = np.array([r["arch"] for r in rows])
truth = np.sqrt(np.array([r["corrected"] for r in rows]) * np.array([r["corrected"] for r in rows2]))
p = np.mean([open_table(f"/tmp/cov3/fbnet128-r2-s{s}.db").dense().predict_latency(archs) for s in (0, 1)], 0)
e = truth / p; e = e / np.median(e) - 1
names = [c.name for c in space.layers[0].choices]
g2 = np.isin(archs, [1, 5]).sum(1); e1 = np.isin(archs, [0, 4]).sum(1); sk = (archs == 8).sum(1); e6 = np.isin(archs, [3, 7]).sum(1)
pairs_g2 = (np.isin(archs[:, 1:], [1, 5]) & np.isin(archs[:, :-1], [1, 5])).sum(1)
for name, f in (("g2", g2), ("e1", e1), ("skip", sk), ("e6", e6), ("g2 pairs", pairs_g2), ("pred", p)):
    print(f"{name:9s} corr {np.corrcoef(f, e)[0, 1]:+.2f}")
print("sd %.2f%%" % (100 * e.std()))
g2set = [1, 5]
for lo, hi in ((1, 6), (1, 22), (6, 22)):
    trans = np.array([sum(1 for L in range(lo, hi) if a[L - 1] in g2set and a[L] != 8) for a in archs])
    A = np.stack([trans, np.ones_like(trans)], 1).astype(float); w = np.linalg.lstsq(A, e, rcond=None)[0]
    print(f"g2 -> block transitions in layers {lo}-{hi-1}: corr {np.corrcoef(trans, e)[0, 1]:+.2f}, slope {w[0]*100:+.2f}%/transition, resid sd {100*(e - A @ w).std():.2f}%")
