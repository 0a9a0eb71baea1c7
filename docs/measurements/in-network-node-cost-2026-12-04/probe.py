"""How much of an in-network table's per-arch error is entry noise (changes with the covering
networks) and how much is the additive model (the same for every table)? fbnet @ 128, onnxruntime."""
import json, sys, time, os
from pathlib import Path
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.latency_tables.profile import profile_table
from lutnas.latency_tables.settings import ProfileSettings
from lutnas.spaces import get_space

space_name, res = sys.argv[1], int(sys.argv[2])
ref = Path(sys.argv[3])   # validate_repeat pair folder (v1, v2 reports)
configs = [tuple(map(int, c.split(":"))) for c in sys.argv[4].split(",")]   # rounds:seed
space = get_space(space_name)
rows = [r for r in json.load(open(ref / "v1/report.json"))["rows"] if r["role"] == "score"]
rows2 = [r for r in json.load(open(ref / "v2/report.json"))["rows"] if r["role"] == "score"]
archs = np.array([r["arch"] for r in rows])
truth = np.sqrt(np.array([r["corrected"] for r in rows]) * np.array([r["corrected"] for r in rows2]))
preds = {}
for rounds, seed in configs:
    db = Path(f"/tmp/cov/{space_name}{res}-r{rounds}-s{seed}.db")
    t0 = time.perf_counter()
    if not db.exists():
        profile_table(space, res, "x86", "onnxruntime", db, progress=False,
                      settings=ProfileSettings(measure_mode="in-network", extra={"rounds": rounds, "cover_seed": seed}))
    t = open_table(db)
    p = t.dense().predict_latency(archs)
    preds[(rounds, seed)] = p
    e = p / truth; e = e / np.median(e) - 1
    print(f"rounds {rounds} seed {seed}: {time.perf_counter()-t0:.0f} s; error vs truth (median removed) sd {e.std():.3%}, "
          f"within 5% {np.mean(abs(e) < .05):.0%}, max {abs(e).max():.1%}", flush=True)
keys = list(preds)
for i in range(len(keys)):
    for j in range(i + 1, len(keys)):
        d = preds[keys[i]] / preds[keys[j]]; d = d / np.median(d) - 1
        print(f"  {keys[i]} vs {keys[j]}: prediction difference sd {d.std():.3%}")
