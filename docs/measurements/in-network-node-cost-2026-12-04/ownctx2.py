import json, sys, pickle
from collections import defaultdict
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.spaces import get_space
space = get_space(sys.argv[1]); res = int(sys.argv[2]); db = sys.argv[3]
r = pickle.load(open(f"/tmp/cov/own-{sys.argv[1]}{res}.pkl", "rb"))
t = open_table(db)
measured, st = t.statistics()
entry = {d.entry.key: float(v) for d, v in zip(measured, st.estimate)}
# per network: own-context block times (median of samples) vs table entries
nets = defaultdict(dict)
for key, ms in r.entries.items():
    for m in ms:
        nets[tuple(m.meta["arch"])][m.meta["position"]] = (key, float(np.median(m.samples_ms)), m.meta["scale"], m.meta["network_ms"])
print("scales: ", np.round(sorted(r.scales), 3))
dev = defaultdict(list)
tot = []
for arch, blocks in nets.items():
    own = sum(v[1] for v in blocks.values()); tab = sum(entry[v[0]] for v in blocks.values())
    tot.append((own, tab, next(iter(blocks.values()))[2]))
    for pos, (key, o, s, n) in blocks.items():
        prev = arch[pos - 2] if pos >= 2 and pos - 2 < len(arch) else -1   # stem at position 0? check
        dev[key].append((o - entry[key], o, entry[key], pos))
tot = np.array(tot)
e = tot[:, 0] / tot[:, 1]; print("own/table per net: median %.3f sd %.3f" % (np.median(e), (e / np.median(e)).std()))
print("corr (own/table) with scale: %.2f" % np.corrcoef(e, tot[:, 2])[0, 1])
# which blocks contribute: sum of abs deviation by block kind
agg = defaultdict(lambda: [0.0, 0.0, 0])
for key, ds in dev.items():
    kind = key.split("|")[0] if "|" in key else key[:40]
    for d, o, ent, pos in ds:
        agg[key][0] += d; agg[key][1] += ent; agg[key][2] += 1
worst = sorted(agg.items(), key=lambda kv: -abs(kv[1][0]))[:15]
for k, (d, ent, n) in worst:
    print(f"{k[:90]:90s} n={n:2d} total dev {d*1e3:+8.1f} us  rel {d/ent:+.1%}")
