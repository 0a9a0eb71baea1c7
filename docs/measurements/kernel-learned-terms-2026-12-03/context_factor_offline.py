"""Offline: a per-table context factor = median over profiled models of whole / (kernels + fixed)."""
import sys, json
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np
from kernel_table_accuracy import export_models, goal_learned, goal_measured, leave_one_out, line
import lutnas.latency_tables.kernel_table as kt
from lutnas.profiler.stability import verdict
run = Path(sys.argv[1]); measured = json.load(open(run / "summary.json"))["measured"]
fams = ["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer"] + (["effnet", "convnext"] if "effnet0-r32" in measured else [])
models = export_models(fams, 2, [32, 64], run)
def factor(self):
    passes, est = self.ks.model_passes(self.id), self.estimates()
    fixed = self.fixed_cost(); ratios = []
    for row in self.ks.models(self.id, role="model"):
        if self.model_names is not None and row.name not in self.model_names: continue
        whole = passes.get((row.id, "model"))
        if not whole or any(k.signature not in est for k in row.kernels.kernels): continue
        kern = sum(c * est[k.signature] for k, c in zip(row.kernels.kernels, row.kernels.calls))
        ratios.append(verdict(whole, self.policy).median_ms / (kern + fixed.cost_ms(row.kernels.vm_calls)))
    return float(np.median(ratios)) if ratios else 1.0
orig = kt.KernelTable.predict
USE = len(sys.argv) > 2
def predict(self, kernels, model):
    p = orig(self, kernels, model)
    if not USE: return p
    f = factor(self)
    from dataclasses import replace
    return replace(p, terms=tuple(replace(t, ms_per_call=t.ms_per_call * (f if t.source == "measured" else 1.0)) for t in p.terms))
kt.KernelTable.predict = predict
t = kt.open_kernel_table(run / "kernels.db")
print(run.name, "factor", round(factor(t), 3))
print(line("measured", goal_measured(t, models, measured)["stats"]))
test = [f for f in fams if f not in ("resnet", "shufflenet", "vit")]
print(line("unseen", goal_learned(t, models, measured, ["resnet", "shufflenet", "vit"], test, True)["stats"]))
print(line("loo", leave_one_out(t, models, measured, True)["stats"]))
