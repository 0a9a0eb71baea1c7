"""Offline: drift correction by the median of all other anchors vs the anchors nearest in latency."""
import json, sys
import numpy as np
sys.path.insert(0, "/work/main/bench")
from lutnas.latency_tables.kernel_table import open_kernel_table, model_kernels, read_models
from pathlib import Path

def score(pred, meas, prof, k):
    names = sorted(pred)
    errs = []
    for n in names:
        others = [m for m in names if m != n]
        if k:
            others = sorted(others, key=lambda m: abs(np.log(prof[m]) - np.log(prof[n])))[:k]
        f = np.median([meas[m] / prof[m] for m in others])
        errs.append(pred[n] * f / meas[n] - 1)
    e = np.abs(errs)
    return f"within5 {np.mean(e <= 0.05):.0%} max {e.max():.1%} rmspe {np.sqrt(np.mean(np.square(errs))):.1%}"

run = Path(sys.argv[1])
table = open_kernel_table(run / "kernels.db", None, "linear", "probes", True)
wholes = table.profiled_wholes()
pred, prof = {}, {}
for m in read_models(sorted((run / "onnx").glob("*.onnx"))):
    pred[m.name] = table.predict(model_kernels(table, m), m.name).latency_ms
    prof[m.name] = wholes[m.key]
sources = {"bench": json.loads((run / "summary.json").read_text())["measured"]}
for v in sys.argv[2:]:
    sources[v] = {r["model"]: r["measured"] for r in json.loads(Path(v, "report.json").read_text())["rows"]}
for name, meas in sources.items():
    print(name)
    for k in (0, 4, 6, 8, 12):
        print(f"  k={k:2d}: {score(pred, meas, prof, k)}")
res = sorted(((pred[n] / prof[n] - 1), n) for n in pred)
print("in-sample pred/profiled-whole - 1:", ", ".join(f"{n} {e:+.1%}" for e, n in res))
