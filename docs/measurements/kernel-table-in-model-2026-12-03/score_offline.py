"""Re-score a bench run's tables offline (no timing): learned-kernel goals with the current regressor."""
import sys, json
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from kernel_table_accuracy import export_models, goal_learned, leave_one_out, line, kinds_line
from lutnas.latency_tables.kernel_table import open_kernel_table
run = Path(sys.argv[1])
s = json.load(open(run / "summary.json"))
measured = s["measured"]
models = export_models(["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer"], 2, [32, 64], run)
import sqlite3
con = sqlite3.connect(run / "kernels.db")
tids = [r[0] for r in con.execute("SELECT id, options FROM kernel_tables") if '"in-model"' in r[1]] if False else None
for key in s["goal_measured"]:
    pass
for tid in sys.argv[2].split(","):
    for reg in ("linear", "forest"):
        table = open_kernel_table(run / "kernels.db", tid, reg)
        g2 = goal_learned(table, models, measured, ["resnet", "shufflenet", "vit"], ["mobilenet", "vgg", "mixer"])
        print(line(f"unseen [{tid[:6]} {reg}]", g2["stats"]), "| corrected RMSPE %.1f%%" % (100 * g2["corrected_stats"]["rmspe"]))
        print("    kinds:", kinds_line(g2))
        g3 = leave_one_out(table, models, measured)
        print(line(f"leave-one-out [{tid[:6]} {reg}]", g3["stats"]))
        print("    by family: " + ", ".join(f"{fam} {s['rmspe']:.0%}" for fam, s in g3["by_family"].items()))
        print("    kinds:", kinds_line(g3))
