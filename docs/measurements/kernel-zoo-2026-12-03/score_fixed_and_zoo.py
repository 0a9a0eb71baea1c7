import sys, json
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from kernel_table_accuracy import export_models, goal_learned, goal_measured, leave_one_out, line
from lutnas.latency_tables.kernel_table import open_kernel_table
run = Path(sys.argv[1]); s = json.load(open(run / "summary.json")); measured = s["measured"]
models = export_models(["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer"], 2, [32, 64], run)
for fixed in ("probes", "models"):
    t = open_kernel_table(run / "kernels.db", None if len(sys.argv) < 3 else sys.argv[2], "linear", fixed)
    print(fixed, t.fixed_cost())
    print(line(f"measured [{fixed}]", goal_measured(t, models, measured)["stats"]))
    for zoo in (False, True):
        g2 = goal_learned(t, models, measured, ["resnet", "shufflenet", "vit"], ["mobilenet", "vgg", "mixer"], zoo)
        print(line(f"unseen [{fixed} zoo={zoo}]", g2["stats"]))
        g3 = leave_one_out(t, models, measured, zoo)
        print(line(f"loo [{fixed} zoo={zoo}]", g3["stats"]), ", ".join(f"{f} {v['rmspe']:.0%}" for f, v in g3["by_family"].items()))
