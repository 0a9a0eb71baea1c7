"""Offline: a table calibrated on its covering networks (left-out or in-sample predictions -> their
profiled latency), applied to the held-out archs of its two validations (round-corrected truth)."""
import json, sys
from pathlib import Path
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.latency_tables.covering import covering_fit

def score(pred, meas):
    e = pred / meas - 1
    return e.std(), np.mean(np.abs(e) <= 0.05), e.mean()

tot = {}
for run in sys.argv[1:]:
    for d in sorted(Path(run).glob("*-onnxruntime")):
        t = open_table(d / "table.db"); cf = covering_fit(t); t.close()
        fits = {}
        for name, x in (("loo", cf.held_out_ms), ("in", cf.in_sample_ms)):
            ok = np.isfinite(x)
            a, b = np.polyfit(x[ok], cf.latency_ms[ok], 1)
            fits[name + "-lin"] = lambda p, a=a, b=b: a * p + b
            k, c = np.polyfit(np.log(x[ok]), np.log(cf.latency_ms[ok]), 1)
            fits[name + "-pow"] = lambda p, k=k, c=c: np.exp(c) * p ** k
            g = np.exp(np.mean(np.log(x[ok])))
            fits[name + "-slope"] = lambda p, k=k, g=g: p * (p / g) ** (k - 1)
        line = [f"{d.parent.name}/{d.name[:-12]:16s}"]
        for v in ("v1", "v2"):
            rows = json.loads((d / v / "report.json").read_text())["rows"]
            pred = np.array([r["predicted"] for r in rows]); meas = np.array([r["corrected"] for r in rows])
            for name, f in [("raw", lambda p: p)] + list(fits.items()):
                sd, w5, bias = score(f(pred), meas)
                tot.setdefault(name, []).append((sd, w5, bias))
                if name in ("raw", "loo-lin", "in-lin"):
                    line.append(f"{v} {name} sd {sd:.1%} in5 {w5:.0%}")
        print("  ".join(line))
for name, v in tot.items():
    v = np.array(v); print(f"{name:8s} mean sd {v[:,0].mean():.2%}  mean in5 {v[:,1].mean():.1%}  validations >=90% in5: {np.sum(v[:,1] >= 0.9)}/{len(v)}  mean|bias| {np.abs(v[:,2]).mean():.2%}")
