import sys, json
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from collections import defaultdict
from kernel_table_accuracy import export_models

from lutnas.latency_tables.kernel_table import open_kernel_table, model_kernels, read_models
run = Path(sys.argv[1]); measured = json.load(open(run / "summary.json"))["measured"]
models = export_models(["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer", "effnet", "convnext"], 2, [32, 64], run)
table = open_kernel_table(run / "kernels.db", None, "linear")
train = ["resnet", "shufflenet", "vit"]
view = table.restricted([n for n, (f, _) in models.items() if f in train], True)
est = table.estimates()
worst = []
for m in read_models([p for n, (f, p) in models.items() if f not in train]):
    mk = model_kernels(view, m)
    p = view.predict(mk, m.name); full = table.predict(mk, m.name); meas = measured[m.name]
    by = defaultdict(float)
    for t in p.missing:
        d = t.calls * (t.ms_per_call - est[t.signature]) / meas
        by[t.kind] += d
        worst.append((abs(d), m.name, t.kind, t.calls, t.ms_per_call * 1e3, est[t.signature] * 1e3, t.summary[:110]))
    print(f"{m.name:15s} total {p.latency_ms/meas-1:+6.1%}  measured-all {full.latency_ms/meas-1:+6.1%}  learned share {p.learned_ms/p.latency_ms:4.0%}  " +
          " ".join(f"{k}:{v:+.1%}" for k, v in sorted(by.items())))
worst.sort(reverse=True)
for w in worst[:25]:
    print(f"{w[0]:5.1%} {w[1]:14s} {w[2]:7s} x{w[3]} learned {w[4]:7.2f} us  meas {w[5]:7.2f} us  {w[6]}")
