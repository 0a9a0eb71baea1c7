"""For every table of bench/validate_repeat.py runs (DIR/<space>-<res>-onnxruntime/{table.db,v1,v2}):
the profile's own estimate (covering networks left out in turn) beside its two round-corrected
validations. Usage: loo_summary.py RUN_DIR [RUN_DIR ...]"""
import json, sys
from pathlib import Path
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.latency_tables.covering import covering_fit

print(f"{'table':34s} {'LOO sd':>7s} {'LOO in5':>7s} {'in-sample sd':>12s} | {'val sd v1/v2':>13s} {'val in5 v1/v2':>14s}")
for run in sys.argv[1:]:
    for d in sorted(Path(run).glob("*-onnxruntime")):
        t = open_table(d / "table.db"); cf = covering_fit(t); t.close()
        sds, in5 = [], []
        for v in ("v1", "v2"):
            e = np.array([r["corrected_rel_error"] for r in json.loads((d / v / "report.json").read_text())["rows"]])
            sds.append(e.std()); in5.append(np.mean(np.abs(e) <= 0.05))
        print(f"{d.parent.name + '/' + d.name[:-12]:34s} {cf.held_out.sd:7.1%} {cf.held_out.within_5:7.0%} "
              f"{cf.in_sample.sd:12.1%} | {sds[0]:6.1%}/{sds[1]:<6.1%} {in5[0]:6.0%}/{in5[1]:<6.0%}")
