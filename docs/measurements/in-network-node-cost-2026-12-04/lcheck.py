"""Per network: the in-network profile's latency L against validate-style whole timing (plain
sessions only, interleaved cycles), and against a second profile."""
import sys
from pathlib import Path
import numpy as np
from lutnas.latency_tables.context import covering_archs, profile_networks
from lutnas.latency_tables.jobs import export_networks
from lutnas.lowering.ort import ort_session
from lutnas.profiler.harness import settled_sample_ms
from lutnas.spaces import get_space
space = get_space(sys.argv[1]); res = int(sys.argv[2])
archs = covering_archs(space, 2, 0)
paths = export_networks(space, archs, res, Path("/tmp/cov/nets") / space.name)
keys = [[b.key for b in space.blocks(a, res)] for a in archs]
def whole(cycles=15):
    sess = [ort_session(p, 1) for p in paths]
    x = {"input": np.random.default_rng(0).standard_normal((1, 3, res, res)).astype(np.float32)}
    groups = []
    for s in sess:
        for _ in range(3): s.run(None, x)
        groups.append(max(1, int(np.ceil(20.0 / (settled_sample_ms(lambda: s.run(None, x), 1))))))
    out = np.zeros((len(sess), cycles))
    for c in range(cycles):
        for k in range(len(sess)):
            i = (k + c) % len(sess)
            out[i, c] = settled_sample_ms(lambda: sess[i].run(None, x), groups[i])
    return np.median(out, 1)
W1 = whole()
P1 = np.array([p.latency_ms for p in profile_networks(paths, archs, keys, work_dir=Path("/tmp/cov/nets"), node_cost_ms=0.0)])
W2 = whole()
P2 = np.array([p.latency_ms for p in profile_networks(paths, archs, keys, work_dir=Path("/tmp/cov/nets"), node_cost_ms=0.0)])
W3 = whole()
def sd(r): r = np.asarray(r); return "sd %.2f%% (median %.3f)" % (100 * (r / np.median(r)).std(), np.median(r))
print("profile1 / whole(avg of neighbours)", sd(P1 / np.sqrt(W1 * W2)))
print("profile2 / whole(avg)", sd(P2 / np.sqrt(W2 * W3)))
print("profile1 / profile2", sd(P1 / P2))
print("whole1 / whole2", sd(W1 / W2), " whole2 / whole3", sd(W2 / W3))
