import sys, json
sys.path.insert(0, "/work/main/bench")
from dataclasses import replace
from pathlib import Path
from kernel_table_accuracy import export_models, goal_learned, leave_one_out, line, kinds_line, row_stats
import lutnas.latency_tables.kernel_table as kt
run = Path(sys.argv[1]); measured = json.load(open(run / "summary.json"))["measured"]
if len(sys.argv) < 3 or sys.argv[2] != "nocount":
    sys.path.insert(0, "/tmp/s15"); import patch_counts
fams = ["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer", "effnet", "convnext"]
models = export_models(fams, 2, [32, 64], run)
table = kt.open_kernel_table(run / "kernels.db", None, "linear")
g2 = goal_learned(table, models, measured, fams[:3], fams[3:], True)
print(line("unseen (5 families)", g2["stats"]), "| kinds:", kinds_line(g2))
if "corrected_stats" in g2: print(line(f"  drift-corrected x{g2['drift']['median']:.3f}", g2["corrected_stats"]))
for sub in (fams[3:6], fams[6:]):
    print(line(f"  {'/'.join(sub)}", row_stats([r for r in g2["rows"] if models[r["model"]][0] in sub])))
print("    " + " ".join(f"{r['model']}:{r['predicted']/r['measured']-1:+.0%}" for r in g2["rows"]))
g3 = leave_one_out(table, models, measured, True)
print(line("loo", g3["stats"]), ", ".join(f"{f} {v['rmspe']:.0%}" for f, v in g3["by_family"].items()))
print("    kinds:", kinds_line(g3))
