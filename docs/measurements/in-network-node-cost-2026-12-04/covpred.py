import sys, numpy as np
from lutnas.latency_tables import open_table
for path in sys.argv[1:]:
    t = open_table(path)
    nets = {}
    for d in t.entries():
        for p in d.passes:
            m = p.measurement.meta
            nets[m["network"]] = (tuple(m["arch"]), m["network_ms"])
    archs = np.array([a for a, _ in nets.values()]); L = np.array([l for _, l in nets.values()])
    pred = t.dense().predict_latency(archs)
    r = pred / L
    print(f"{path.split('/')[2]}/{path.split('/')[3][:14]}: table prediction / profile latency over its {len(L)} covering networks: median {np.median(r):.4f}, range {r.min():.3f}-{r.max():.3f}")
