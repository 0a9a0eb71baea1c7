"""Offline: re-score run7's tables with per-subkind linear models (monkeypatched)."""
import sys, json, math
sys.path.insert(0, "/work/main/bench")
import numpy as np
from pathlib import Path
from kernel_table_accuracy import export_models, goal_learned, leave_one_out, line, kinds_line
import lutnas.latency_tables.kernel_model as km
from lutnas.latency_tables.kernel_table import open_kernel_table

TRANSC = ("erf", "tanh", "exp", "sigmoid", "log", "sqrt", "rsqrt", "power")
def subkind(info):
    k = info.kind; p = info.params; pat = info.pattern.split("_")
    if k == "conv" and len(p) >= 2:
        w = p[1].shape; x = p[0].shape
        if len(w) == 4 and w[2] == 1 and x[-1] > 1: return "conv:dw"
        if x[-1] <= 4: return "conv:stem"
        if (len(w) == 5 and w[1] == w[2] == 1) or (len(w) == 4 and w[0] == w[1] == 1): return "conv:pw"
        return "conv:kxk"
    if k == "matmul":
        out = p[-1].shape; rows = math.prod(out[:-1])
        t = "+t" if any(a in pat for a in TRANSC) else ""
        return ("matmul:gemv" if rows == 1 else "matmul:gemm") + t
    if k == "layout":
        return "layout:perm" if "transpose" in pat else "layout:copy"
    return k

MODE = sys.argv[2] if len(sys.argv) > 2 else "sub"
if MODE == "transc":
    orig_terms = km.work_terms
    def work_terms(info):
        t = orig_terms(info)
        n = sum(info.pattern.split("_").count(a) for a in TRANSC)
        return np.append(t, t[3] * n)
    km.work_terms = work_terms
    MODE = "base"

def chain(info):
    s = subkind(info) if MODE != "base" else info.kind
    out = [s]
    if ":" in s: out.append(s.split(":")[0] if "+t" not in s else s.split("+")[0])
    if out[-1] != info.kind: out.append(info.kind)
    return out

orig_fit = km.KernelRegressor.fit.__func__
def fit(cls, infos, times_ms, regressor=km.DEFAULT_REGRESSOR):
    times = np.asarray(times_ms, dtype=np.float64)
    models = {km.GLOBAL: km._fit_kind(km.GLOBAL, list(infos), times, regressor)}
    groups = {}
    for n, i in enumerate(infos):
        for g in chain(i): groups.setdefault(g, []).append(n)
    for g, idx in groups.items():
        if len(idx) >= km.MIN_PER_KIND:
            models[g] = km._fit_kind(g, [infos[n] for n in idx], times[idx], regressor)
    return cls(models, regressor)
def model_for(self, info):
    for g in chain(info):
        if g in self.models: return self.models[g]
    return self.models[km.GLOBAL]
km.KernelRegressor.fit = classmethod(fit)
km.KernelRegressor.model_for = model_for

run = Path(sys.argv[3] if len(sys.argv) > 3 else "/tmp/k14/run7")
s = json.load(open(run / "summary.json")); measured = s["measured"]
models = export_models(["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer"], 2, [32, 64], run)
tid = sys.argv[1]
for reg in ("linear",):
    table = open_kernel_table(run / "kernels.db", tid, reg)
    g2 = goal_learned(table, models, measured, ["resnet", "shufflenet", "vit"], ["mobilenet", "vgg", "mixer"])
    print(line(f"unseen [{MODE} {reg}]", g2["stats"]))
    print("    kinds:", kinds_line(g2))
    for r in g2["rows"]: print(f"      {r['model']:16s} {r['predicted']/r['measured']-1:+.1%}")
    g3 = leave_one_out(table, models, measured)
    print(line(f"leave-one-out [{MODE} {reg}]", g3["stats"]))
    print("    by family: " + ", ".join(f"{fam} {st['rmspe']:.0%}" for fam, st in g3["by_family"].items()))
    print("    kinds:", kinds_line(g3))
