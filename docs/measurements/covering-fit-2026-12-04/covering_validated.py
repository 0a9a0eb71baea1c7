import json, sys
import numpy as np
from lutnas.latency_tables import open_table
t = open_table("fb128.db")
then = {}
for d in t.entries():
    for p in d.passes:
        m = p.measurement.meta; then[tuple(m["arch"])] = m["network_ms"]
rep = json.load(open("vcov/report.json"))
e1, e2, e3 = [], [], []
for r in rep["rows"]:
    a = tuple(r["arch"]); th = then[a]
    f = r["corrected"] / r["predicted"]            # round factor
    e1.append(r["predicted"] / th - 1)             # additive model vs its own profile latency
    e2.append(r["measured"] / (th * f) - 1)       # re-measured (round-corrected) vs profile latency
    e3.append(r["corrected_rel_error"])
for n, e in (("table vs own profile latency", e1), ("re-measure vs profile latency", e2), ("corrected error", e3)):
    e = np.array(e) * 100; print(f"{n:32s} mean {e.mean():+.2f}% sd {e.std():.2f}%  max|| {abs(e).max():.1f}%")
print("corr(e1, -e2) = %.2f" % np.corrcoef(e1, e2)[0, 1])
print("corr(e1, e3) = %.2f" % np.corrcoef(e1, e3)[0, 1])
r = rep["rows"][0]; print({k: r[k] for k in ("predicted", "measured", "corrected", "corrected_rel_error")})
