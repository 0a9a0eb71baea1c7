import pickle
from collections import defaultdict
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.spaces import get_space
space = get_space("fbnet"); names = [c.name for c in space.layers[0].choices]
ta = open_table("/tmp/cov/fbnet128-r6-s0.db")
measured, st = ta.statistics()
entry = {d.entry.key: float(v) for d, v in zip(measured, st.estimate)}
def devs(name):
    own = pickle.load(open("/tmp/cov/" + name, "rb"))
    out, archs = defaultdict(dict), {}
    for key, ms in own.entries.items():
        for m in ms:
            arch = m.meta["arch"]; archs[m.meta["network"]] = arch
            layers = [-1] + [i for i, c in enumerate(arch) if c != 8] + [22]
            assert len(layers) == len(space.blocks(arch, 128))
            out[m.meta["network"]][layers[m.meta["position"]]] = (np.median(m.samples_ms) - entry[key]) * 1e3
    return out, archs
d1, archs = devs("own-fbnet128.pkl"); d2, _ = devs("own-fbnet128b.pkl")
nets = sorted(d1)
print("head deviation (us) by the last layer's choice, profile 1 | profile 2:")
by = defaultdict(list)
for n in nets:
    by[names[archs[n][21]]].append((d1[n][22], d2[n][22]))
for k, v in sorted(by.items()):
    v = np.array(v); print(f"  {k:10s} n={len(v)} {v[:, 0].mean():+6.1f} | {v[:, 1].mean():+6.1f}")
print("per layer: sd of dev across nets, corr between profiles; dev by previous choice (mean us)")
for L in range(22):
    rows = [(d1[n][L], d2[n][L], archs[n][L - 1] if L else -1) for n in nets if L in d1[n]]
    r = np.array(rows)
    prev = defaultdict(list)
    for a, b, p in rows: prev[names[p] if p >= 0 else "stem"].append(a)
    print(f"layer {L:2d}: n={len(r)} sd {r[:, 0].std():5.1f} corr {np.corrcoef(r[:, 0], r[:, 1])[0, 1]:+.2f}  by prev: " +
          " ".join(f"{k}:{np.mean(v):+.0f}" for k, v in sorted(prev.items())))
