import sys, json, numpy as np
from lutnas.latency_tables import open_table
from lutnas.latency_tables.covering import covering_fit
t = open_table(sys.argv[1])
cf = covering_fit(t)
print(cf.line())
d = t.dense()
archs = {}
for e in t.entries():
    for p in e.passes:
        m = p.measurement.meta; archs[m["network"]] = m["arch"]
dp = d.predict_latency(np.array([archs[n] for n in cf.networks]))
print("max |in_sample - dense| =", np.abs(dp - cf.in_sample_ms).max())
for a in sys.argv[2:]:
    rep = json.load(open(a)); e = np.array([r["corrected_rel_error"] for r in rep["rows"]])
    print(a, "validation corrected: bias %+.1f%% sd %.1f%% p95 %.1f%% within5 %.0f%%" % (e.mean()*100, e.std()*100, np.percentile(abs(e),95)*100, np.mean(abs(e)<=.05)*100))
