import sys, json
import numpy as np
sys.path.insert(0, "/work/main/bench")
import kernel_table_accuracy as B
from pathlib import Path
from lutnas.latency_tables.kernel_table import open_kernel_table, model_kernels, read_models
for run in sys.argv[1:]:
    run = Path(run); measured = json.load(open(run / "summary.json"))["measured"]
    t = open_kernel_table(run / "kernels.db")
    wholes = {row.name: v for row in t.ks.models(t.id, role="model") for k, v in t.profiled_wholes().items() if k == row.key}
    models = B.export_models(list(B.FAMILIES), 2, [32, 64], run)
    out = []
    for m in read_models([p for _, p in models.values()]):
        p = t.predict(model_kernels(t, m), m.name).latency_ms
        out.append((m.name, p / wholes[m.name] - 1, p / measured[m.name] - 1, measured[m.name] / wholes[m.name]))
    a = np.array([o[1:] for o in out])
    print(run.name, f"in-profile residual: within5 {np.sum(np.abs(a[:,0])<=.05)}/32 rmspe {np.sqrt(np.mean(a[:,0]**2)):.1%} max {np.abs(a[:,0]).max():.1%}; ground truth / profiled whole: median {np.median(a[:,2]):.3f} spread p5-p95 {np.percentile(a[:,2],5):.3f}-{np.percentile(a[:,2],95):.3f}")
    for o in out:
        if abs(o[2]) > .05: print("   ", o[0], f"in-profile {o[1]:+.1%} vs ground truth {o[2]:+.1%}; now/then {o[3]:.3f}")
    t.ks.store.close()
