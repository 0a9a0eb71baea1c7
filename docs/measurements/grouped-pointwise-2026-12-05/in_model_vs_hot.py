"""Per kernel, in-model against hot, of two kernel tables of one model (fbnet#1 @ 224, seed 0):

    .venv/bin/python -c "...export fbnet arch #1 of seed 0 at 224 px to fbnet1-224.onnx..."
    lutnas profile --onnx fbnet1-224.onnx --db in-model.db --cache-mode in-model
    lutnas profile --onnx fbnet1-224.onnx --db hot.db --cache-mode hot
    .venv/bin/python in_model_vs_hot.py in-model.db hot.db
"""
import sys

from lutnas.latency_tables.kernel_table import open_kernel_table

tables = {m: open_kernel_table(p) for m, p in zip(("in-model", "hot"), sys.argv[1:3])}
est = {m: t.estimates() for m, t in tables.items()}
infos = tables["hot"].infos
sigs = [s for s in est["hot"] if s in est["in-model"]]
rows = sorted(((est["in-model"][s] - est["hot"][s]) * 1e3, s) for s in sigs)[::-1]
total_in, total_hot = (sum(est[m][s] for s in sigs) for m in ("in-model", "hot"))
print(f"unique kernels, one call each: in-model {total_in:.3f} ms, hot {total_hot:.3f} ms, x{total_in / total_hot:.3f}")
for d, s in rows[:14]:
    print(f"  {d:+7.1f} us  in-model {est['in-model'][s] * 1e3:7.1f}  hot {est['hot'][s] * 1e3:7.1f}  "
          f"x{est['in-model'][s] / est['hot'][s]:.2f}  {infos[s].summary()[:95]}")
