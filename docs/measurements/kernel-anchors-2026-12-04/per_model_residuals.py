"""Is a model's miss its own (the same in every table) or the table's? Each model's error minus its
run's median error (which removes the device's speed between the profile and the ground truth),
in runs 18-20, read from the bench summaries beside this file."""
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RUNS = (18, 19, 20)
errs = {}
for r in RUNS:
    rows = json.loads((HERE / f"run{r}-summary.json").read_text())["goal_measured"]["in-model/probes"]["rows"]
    e = {x["model"]: x["rel_error"] for x in rows}
    med = float(np.median(list(e.values())))
    errs[r] = {m: v - med for m, v in e.items()}
print("model            " + "  ".join(f"run{r}" for r in RUNS) + "  (error minus the run's median error, %)")
for m in sorted(errs[RUNS[-1]], key=lambda m: -abs(np.mean([errs[r][m] for r in RUNS]))):
    print(f"{m:16s} " + " ".join(f"{errs[r][m] * 100:+6.1f}" for r in RUNS))
for r in RUNS:
    v = np.array(list(errs[r].values())) * 100
    print(f"run {r}: spread of the residuals: sd {v.std():.1f} points, max |.| {np.abs(v).max():.1f}")
