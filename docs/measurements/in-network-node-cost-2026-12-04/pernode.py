"""Is onnxruntime's profiler cost per node? Per network: unprofiled latency L, profiled node sum P,
node count N. Fit L = a*P + c*N + g across networks."""
import glob, json, sys, time
from pathlib import Path
import numpy as np
from lutnas.lowering.ort import ort_session
from lutnas.profiler.harness import settled_sample_ms

paths = sorted(glob.glob(sys.argv[1]))[:int(sys.argv[2]) if len(sys.argv) > 2 else None]
rows = []
nets = []
for p in paths:
    plain = ort_session(Path(p), 1)
    prof = ort_session(Path(p), 1, profile_prefix=Path(f"/tmp/cov/prof_{Path(p).stem}"))
    x = {"input": np.random.default_rng(0).standard_normal(tuple(plain.get_inputs()[0].shape)).astype(np.float32)}
    for _ in range(3):
        plain.run(None, x); prof.run(None, x)
    nets.append((p, plain, prof, x))
G = 20
plain_ms = np.zeros((len(nets), 8))
for cyc in range(8):
    for i, (p, plain, prof, x) in enumerate(nets):
        plain_ms[i, cyc] = settled_sample_ms(lambda: plain.run(None, x), G)
        for _ in range(G + 1):
            prof.run(None, x)
for i, (p, plain, prof, x) in enumerate(nets):
    ev = json.loads(Path(prof.end_profiling()).read_text())
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("cat") == "Session" and e.get("name") == "model_run")[3:]
    nodes = [(e["ts"], e["dur"]) for e in ev if e.get("cat") == "Node"]
    per_run = []
    for a, b in runs:
        d = [dur for ts, dur in nodes if a <= ts <= b]
        per_run.append((sum(d) * 1e-3, len(d), (b - a) * 1e-3))
    per_run = np.array(per_run)
    rows.append((np.median(plain_ms[i]), np.median(per_run[:, 0]), np.median(per_run[:, 1]), np.median(per_run[:, 2])))
R = np.array(rows)
L, P, N, W = R.T
print("nodes per net:", N.min(), N.max(), " scale L/P:", np.round(np.percentile(L / P, [0, 50, 100]), 3))
print("model_run span / node sum:", np.round(np.percentile(W / P, [0, 50, 100]), 3))
for name, X in [("a*P", np.stack([P], 1)), ("a*P+g", np.stack([P, np.ones_like(P)], 1)), ("a*P+c*N", np.stack([P, N], 1)),
                ("a*P+c*N+g", np.stack([P, N, np.ones_like(P)], 1))]:
    w = np.linalg.lstsq(X / L[:, None], np.ones_like(L), rcond=None)[0]
    r = X @ w / L - 1
    print(f"{name:10s} coef {np.round(w, 5)}  rel resid sd {r.std():.2%} max {abs(r).max():.2%}")
