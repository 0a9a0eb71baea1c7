"""Offline: feature variants for the linear kernel model (work_terms monkeypatched)."""
import sys, json, math
sys.path.insert(0, "/work/main/bench")
import numpy as np
from pathlib import Path
from kernel_table_accuracy import export_models, goal_learned, leave_one_out, line, kinds_line, goal_measured
import lutnas.latency_tables.kernel_model as km
from lutnas.latency_tables.kernel_table import open_kernel_table
LANES = 16
TRANSC = ("erf", "tanh", "exp", "sigmoid", "log", "sqrt", "rsqrt", "power")
ORIG = km.work_terms
FLAGS = set(sys.argv[1].split(","))
def padded(n): return math.ceil(n / LANES) * LANES
def is_dw(info):
    if info.kind != "conv" or len(info.params) < 2: return False
    w = info.params[1].shape; x = info.params[0].shape
    return len(w) == 4 and w[2] == 1 and x[-1] > 1
def terms(info):
    t = ORIG(info)
    out = info.params[-1] if info.params else None
    pad = padded(out.shape[-1]) / out.shape[-1] if out and out.shape and out.shape[-1] > 0 else 1.0
    flops, bts, oute, wb = t[1], t[2], t[3], t[4]
    if "pad" in FLAGS or ("padc" in FLAGS and info.kind in ("conv", "matmul")): flops, oute = flops * pad, oute * pad
    cols = [1.0]
    if "dw" in FLAGS:
        d = is_dw(info); cols += [0.0 if d else flops, flops if d else 0.0]
    else: cols += [flops]
    cols += [bts, oute, wb]
    if "tr" in FLAGS:
        n = sum(info.pattern.split("_").count(a) for a in TRANSC)
        cols += [oute * n if ("trall" in FLAGS or info.kind in ("matmul", "conv", "elementwise")) else 0.0]
    if "red" in FLAGS:   # small reduction: bytes x (1/reduction) (memory-bound kernels)
        r = max(info.flops / max(t[3], 1.0), 1.0); cols += [bts / r]
    return np.array(cols)
km.work_terms = terms
for run in [Path(p) for p in sys.argv[2:]]:
    s = json.load(open(run / "summary.json")); measured = s["measured"]
    models = export_models(["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer"], 2, [32, 64], run)
    table = open_kernel_table(run / "kernels.db", None, "linear")
    g2 = goal_learned(table, models, measured, ["resnet", "shufflenet", "vit"], ["mobilenet", "vgg", "mixer"], True)
    print(run.name, line(f"unseen [{sys.argv[1]}]", g2["stats"]), "| kinds:", kinds_line(g2))
    print("    " + " ".join(f"{r['model']}:{r['predicted']/r['measured']-1:+.0%}" for r in g2["rows"]))
    g3 = leave_one_out(table, models, measured, True)
    print(run.name, line(f"loo [{sys.argv[1]}]", g3["stats"]), ", ".join(f"{f} {v['rmspe']:.0%}" for f, v in g3["by_family"].items()))
    print("    kinds:", kinds_line(g3))
