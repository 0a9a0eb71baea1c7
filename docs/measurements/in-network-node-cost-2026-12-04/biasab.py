import json, pickle, sys
from collections import defaultdict
from dataclasses import replace
import numpy as np
from lutnas.spaces import get_space
for space_name, res in (("fbnet", 128), ("fbnet", 160), ("proxyless", 160), ("ofa-mbv3", 128)):
    space = get_space(space_name)
    profs = pickle.load(open(f"/tmp/cov/cover-{space_name}{res}-none.pkl", "rb"))
    rng = np.random.default_rng(16180); held = [space.sample(rng) for _ in range(30)]
    def predict(ps, c, archs):
        ent = defaultdict(list)
        for p in ps:
            q = replace(p, node_cost_ms=c)
            for i, k in enumerate(q.block_keys):
                ent[k].append(np.median(q.block_samples_ms(i)))
        e = {k: np.median(v) for k, v in ent.items()}
        return np.array([sum(e[b.key] for b in space.blocks(a, res)) for a in archs])
    cov = [p.arch for p in profs]
    L = np.array([p.latency_ms for p in profs])
    for c in (0.0, 0.0022):
        ph = predict(profs, c, held); pc = predict(profs, c, cov)
        print(f"{space_name}@{res} c={c*1e3:.1f}us: covering pred/L median {np.median(pc / L):.4f}; held-out pred mean {ph.mean():.4f} ms")
