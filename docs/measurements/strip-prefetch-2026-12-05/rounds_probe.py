"""Issue 17 probe: does a table of more covering rounds predict held-out archs better?
Profile an in-network onnxruntime table with 4 covering rounds, validate it once on 30 archs,
then re-estimate entries offline from subsets of its covering networks (rounds 1-2, rounds 3-4,
all) and score each against the same round-corrected ground truth."""
import json, sys, time, os
from collections import defaultdict
from pathlib import Path
import numpy as np

space_name, res, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
work = Path(f"/tmp/r17/{space_name}-{res}-r{rounds}")
os.environ.setdefault("LUTNAS_CACHE", "/tmp/r17/cache")
from lutnas.latency_tables import open_table
from lutnas.latency_tables.context import covering_archs
from lutnas.latency_tables.profile import profile_table
from lutnas.latency_tables.settings import ProfileSettings
from lutnas.latency_tables.validate import validate
from lutnas.spaces import get_space

space = get_space(space_name)
t0 = time.time()
r = profile_table(space, res, "x86", "onnxruntime", work / "table.db",
                  settings=ProfileSettings(measure_mode="in-network", extra={"rounds": rounds}), progress=False)
print(f"profiled {r.entries} entries in {time.time()-t0:.0f} s", flush=True)
rng = np.random.default_rng(seed)
archs = [space.sample(rng) for _ in range(30)]
table = open_table(work / "table.db", r.table_id)
rep = validate(table, archs, work / "v1", rounds=15, progress=False, work_dir=work / "networks")
print(rep.line(), flush=True)

samples = defaultdict(lambda: defaultdict(list))   # key -> network -> samples
net_arch = {}
for ed in table.entries():
    for p in ed.passes:
        m = p.measurement
        samples[ed.entry.key][m.meta["network"]].extend(m.samples_ms)
        net_arch[m.meta["network"]] = tuple(m.meta["arch"])
order = {a: i for i, a in enumerate(covering_archs(space, rounds, 0))}
first2 = set(covering_archs(space, 2, 0))
nets = sorted(net_arch, key=lambda n: order.get(net_arch[n], 1e9))
half = len(nets) // 2
subsets = {"all": set(nets), "first half": set(nets[:half]), "second half": set(nets[half:]),
           "rounds=2 set": {n for n in nets if net_arch[n] in first2}}
keys_of = [[b.key for b in space.blocks(a, res)] for a in archs]
truth = np.array([row.corrected for row in rep.rows]); raw = np.array([row.measured for row in rep.rows])
pred_table = np.array([row.predicted for row in rep.rows])
print(f"networks {len(nets)}; rounds=2 set {len(subsets['rounds=2 set'])}")
for label, sub in subsets.items():
    est = {}
    for k, by_net in samples.items():
        s = [v for n, vs in by_net.items() if n in sub for v in vs]
        if s:
            est[k] = float(np.median(s))
    ok = [i for i, ks in enumerate(keys_of) if all(k in est for k in ks)]
    pred = np.array([sum(est[k] for k in keys_of[i]) for i in ok])
    for name, t in (("corrected", truth[ok]), ("raw", raw[ok])):
        e = pred / t - 1
        print(f"{label:14s} {name:9s} n={len(ok):2d} bias {100*e.mean():+5.2f}% sd {100*e.std():4.2f}% "
              f"within5 {100*np.mean(abs(e)<0.05):5.1f}% within5 debiased {100*np.mean(abs(e-e.mean())<0.05):5.1f}%")
print("table pred vs offline all:", np.round(pred_table[:3], 4))
json.dump({"archs": [list(a) for a in archs], "truth": truth.tolist(), "raw": raw.tolist()}, open(work / "truth.json", "w"))
