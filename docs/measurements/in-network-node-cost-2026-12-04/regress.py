import json, sys
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.spaces import get_space
space = get_space(sys.argv[1]); ref = sys.argv[2]; db = sys.argv[3]
rows = [r for r in json.load(open(ref + "/v1/report.json"))["rows"] if r["role"] == "score"]
rows2 = [r for r in json.load(open(ref + "/v2/report.json"))["rows"] if r["role"] == "score"]
archs = np.array([r["arch"] for r in rows])
truth = np.sqrt(np.array([r["corrected"] for r in rows]) * np.array([r["corrected"] for r in rows2]))
p = open_table(db).dense().predict_latency(archs)
e = truth / p; e = e / np.median(e) - 1   # >0: network slower than predicted
names = [c.name for c in space.layers[0].choices] if hasattr(space.layers[0], "choices") else None
print("choices:", names)
n = archs.max() + 1
X = np.stack([(archs == c).sum(1) for c in range(n)], 1).astype(float)
for c in range(n):
    print(f"choice {c} {names[c] if names else ''}: corr with error {np.corrcoef(X[:, c], e)[0, 1]:+.2f}, mean count {X[:, c].mean():.1f}")
print("corr error vs predicted latency", np.corrcoef(p, e)[0, 1])
order = np.argsort(e)
for i in list(order[:4]) + list(order[-4:]):
    print(f"{e[i]:+.3f} {p[i]:.3f}ms", archs[i].tolist())
