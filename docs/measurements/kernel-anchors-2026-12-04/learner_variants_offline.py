"""Offline: goal 2 and leave-one-out RMSPE of a finished bench run under learner variants."""
import sys, json
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np
import kernel_table_accuracy as B
from lutnas.latency_tables import kernel_model as KM
from lutnas.latency_tables.kernel_table import open_kernel_table

run = Path(sys.argv[1]); measured = json.load(open(run / "summary.json"))["measured"]
models = B.export_models(list(B.FAMILIES), 2, [32, 64], run)
train, test = ["resnet", "shufflenet", "vit"], ["mobilenet", "vgg", "mixer", "effnet", "convnext"]

def is_dw(info):
    if info.kind != "conv" or len(info.params) < 3: return False
    w = info.params[1].shape
    return len(w) == 4 and w[2] == 1 and w[3] > 1
orig_fit, orig_for = KM.KernelRegressor.fit.__func__, KM.KernelRegressor.model_for
def kind_of(i, split):
    return "dwconv" if split and is_dw(i) else i.kind
def make(split):
    def fit(cls, infos, times_ms, regressor="linear", vector_bits=0):
        times = np.asarray(times_ms, dtype=np.float64)
        models = {KM.GLOBAL: KM._fit_kind(KM.GLOBAL, list(infos), times, regressor, vector_bits)}
        for kind in sorted({kind_of(i, split) for i in infos}):
            idx = [n for n, i in enumerate(infos) if kind_of(i, split) == kind]
            if len(idx) >= KM.MIN_PER_KIND:
                models[kind] = KM._fit_kind(kind, [infos[n] for n in idx], times[idx], regressor, vector_bits)
        return cls(models, regressor)
    def model_for(self, info):
        k = kind_of(info, split)
        return self.models.get(k, self.models.get(info.kind, self.models[KM.GLOBAL]))
    return classmethod(fit), model_for
for name, split, ctx in [("base", False, True), ("base-noctx", False, False), ("dwsplit", True, True), ("dwsplit-noctx", True, False)]:
    KM.KernelRegressor.fit, KM.KernelRegressor.model_for = make(split)
    t = open_kernel_table(run / "kernels.db", None, "linear", "probes", ctx)
    g = B.goal_learned(t, models, measured, train, test, True)
    l = B.leave_one_out(t, models, measured, True)
    fam = B.by_family(g["rows"], models)
    print(f"{name:14s} goal2 RMSPE {g['stats']['rmspe']:.1%}  LOO {l['stats']['rmspe']:.1%}  " +
          " ".join(f"{f}:{v['rmspe']:.0%}" for f, v in fam.items()))
    t.ks.store.close()
