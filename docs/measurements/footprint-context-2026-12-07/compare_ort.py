"""An onnxruntime in-network table's entries as measured against its footprint fit, on validate reports."""
import json, sys
import numpy as np
from lutnas.latency_tables import open_table

t = open_table(sys.argv[1])
found = t.footprint_fit(t.dense(context=False))
print("footprint fit:", found[0].phrase() if found else "none (refused or impossible)")
models = {"entries as measured": t.dense(context=False), "as dense() predicts": t.dense()}
for f in sys.argv[2:]:
    rep = json.load(open(f))
    archs = np.array([r["arch"] for r in rep["rows"]]); meas = np.array([r["corrected"] for r in rep["rows"]])
    for name, d in models.items():
        e = d.predict_latency(archs) / meas - 1
        print(f"{f.split('/')[-2]:10s} {name:20s} MAPE {100*np.abs(e).mean():4.1f}% bias {100*e.mean():+5.1f}% "
              f"max|e| {100*np.abs(e).max():4.1f}%  " + " ".join(f"{100*x:+.0f}" for x in e))
