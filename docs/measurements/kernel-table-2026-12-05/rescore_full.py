"""Re-read a stored kernel_table_accuracy run with the current learner: goal 2 (with/without zoo) and
leave one family out, raw and drift-corrected, as the bench prints them."""
import json, sys
from pathlib import Path
sys.path.insert(0, "/work/main/bench")
import kernel_table_accuracy as kta
from lutnas.latency_tables.kernel_table import open_kernel_table
run = Path(sys.argv[1])
measured = json.loads((run / "summary.json").read_text())["measured"]
models = {p.stem: (p.stem.split("-")[0].rstrip("0123456789"), p) for p in sorted((run / "onnx").glob("*.onnx"))}
train, test = ["resnet", "shufflenet", "vit"], ["mobilenet", "vgg", "mixer", "effnet", "convnext"]
table = open_kernel_table(run / "kernels.db", None, "linear", "probes", True)
g1 = kta.goal_measured(table, models, measured)
print(kta.line("measured kernels", g1["stats"])); print(kta.line("  drift-corrected", g1["corrected_stats"]))
for zoo in (False, True):
    kta.report_learned(table, models, measured, train, test, f"linear{', +zoo' if zoo else ''}", zoo)
