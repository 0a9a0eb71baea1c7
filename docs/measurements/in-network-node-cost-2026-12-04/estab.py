"""A/B through the real table path: the same raw covering profiles stored with node cost 0 and with
the measured cost; held-out predictions relative to the covering networks' latency."""
import pickle, sys
from dataclasses import replace
from pathlib import Path
import numpy as np
import lutnas.latency_tables.context as ctx
from lutnas.latency_tables import open_table
from lutnas.latency_tables.profile import profile_table
from lutnas.latency_tables.settings import ProfileSettings
from lutnas.spaces import get_space
space_name, res = sys.argv[1], int(sys.argv[2])
space = get_space(space_name)
raw = {p.arch: p for p in pickle.load(open(f"/tmp/cov/cover-{space_name}{res}-none.pkl", "rb"))}
rng = np.random.default_rng(16180); held = np.array([space.sample(rng) for _ in range(30)])
for cost in (0.0, 0.0022):
    ctx.profile_networks = lambda paths, archs, keys, node_cost_ms=None, **kw: [replace(raw[tuple(a)], node_cost_ms=cost) for a in archs]
    db = Path(f"/tmp/cov/estab-{space_name}{res}-{cost}.db")
    for f in db.parent.glob(db.name + "*"): f.unlink()
    profile_table(space, res, "x86", "onnxruntime", db, progress=False, settings=ProfileSettings(measure_mode="in-network"))
    t = open_table(db)
    nets = {}
    for d in t.entries():
        for p in d.passes:
            m = p.measurement.meta; nets[m["network"]] = (tuple(m["arch"]), m["network_ms"])
    archs = np.array([a for a, _ in nets.values()]); L = np.array([l for _, l in nets.values()])
    dense = t.dense()
    cov = np.median(dense.predict_latency(archs) / L)
    print(f"cost {cost*1e3:.1f} us: table pred/L on covering {cov:.4f}; held-out pred mean / covering L mean {dense.predict_latency(held).mean() / L.mean():.4f}")
