import pickle, sys, json
from collections import defaultdict
import numpy as np
from lutnas.latency_tables import open_table
own = pickle.load(open("/tmp/cov/own-fbnet128.pkl", "rb"))
t = open_table(sys.argv[1])
raw = defaultdict(list); lat = {}; 
for d in t.entries():
    for p in d.passes:
        m = p.measurement
        raw[d.entry.key].append(np.median(m.samples_ms) / m.meta["scale"])
        lat[m.meta["network"]] = (m.meta["network_ms"], m.meta["scale"])
rawt = {k: np.median(v) for k, v in raw.items()}
nets = defaultdict(dict)
for key, ms in own.entries.items():
    for m in ms:
        nets[m.meta["network"]][m.meta["position"]] = (key, np.median(m.samples_ms) / m.meta["scale"], m.meta["network_ms"])
r = []
for n, bl in nets.items():
    P_own = sum(v[1] for v in bl.values()); P_tab = sum(rawt[v[0]] for v in bl.values()); L = next(iter(bl.values()))[2]
    r.append((P_own, P_tab, L))
r = np.array(r)
x = r[:, 0] / r[:, 1]; print("raw profiled sum own/table: sd %.2f%% median %.3f" % (100 * (x / np.median(x)).std(), np.median(x)))
y = r[:, 2] / r[:, 1]; print("L / raw table sum: sd %.2f%%" % (100 * (y / np.median(y)).std()))
z = r[:, 2] / r[:, 0]; print("L / raw own sum: sd %.2f%%" % (100 * (z / np.median(z)).std()))
# per block deviations, grouped by the previous layer's choice
from lutnas.spaces import get_space
space = get_space("fbnet")
names = [c.name for c in space.layers[0].choices]
rows = []
for n, bl in nets.items():
    arch = None
for key, ms in own.entries.items():
    for m in ms:
        arch = m.meta["arch"]; pos = m.meta["position"]
        own_raw = np.median(m.samples_ms) / m.meta["scale"] / 1.056
        rows.append((key, pos, arch, own_raw, rawt[key]))
# positions: 0 stem?, 1..len(arch) layers? find offset: count blocks per net
npos = max(r[1] for r in rows) + 1
print("positions", npos, "layers", len(rows[0][2]))
dev_by_prev = defaultdict(list); dev_by_own = defaultdict(list); dev_by_next = defaultdict(list)
for key, pos, arch, o, tb in rows:
    d = o - tb
    li = pos - 1   # guess: position 0 is the stem
    if 0 <= li < len(arch):
        prev = arch[li - 1] if li >= 1 else -1
        nxt = arch[li + 1] if li + 1 < len(arch) else -1
        dev_by_prev[names[prev] if prev >= 0 else "stem"].append(d)
        dev_by_next[names[nxt] if nxt >= 0 else "head"].append(d)
        dev_by_own[names[arch[li]]].append((d, tb))
for k, v in sorted(dev_by_prev.items()):
    print(f"prev {k:10s} n={len(v):3d} mean dev {np.mean(v)*1e3:+6.2f} us  sum {np.sum(v)*1e3:+7.1f}")
for k, v in sorted(dev_by_next.items()):
    print(f"next {k:10s} n={len(v):3d} mean dev {np.mean(v)*1e3:+6.2f} us  sum {np.sum(v)*1e3:+7.1f}")
for k, v in sorted(dev_by_own.items()):
    v = np.array(v); print(f"own  {k:10s} n={len(v):3d} mean dev {v[:,0].mean()*1e3:+6.2f} us rel {v[:,0].sum()/v[:,1].sum():+.1%}")
