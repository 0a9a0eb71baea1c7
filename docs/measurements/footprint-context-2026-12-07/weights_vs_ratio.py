import json, sys
import numpy as np
from lutnas.latency_tables.table import open_table
from lutnas.latency_tables.network_context import stored_context
from lutnas.spaces import get_space
from lutnas.spaces.blocks import BlockSpec

db = sys.argv[1]; reports = sys.argv[2:]
t = open_table(db); ctx = stored_context(t); sp = get_space(t.meta.space); res = t.meta.resolution
pcache = {}
def params(key):
    if key not in pcache:
        pass
    return pcache[key]
def params_b(b):
    if b.key not in pcache:
        pcache[b.key] = sum(p.numel() for p in b.build().parameters())
    return pcache[b.key]
def feats(arch):
    bl = sp.blocks(arch, res)
    hot = sum(ctx.block_ms[b.key] for b in bl)
    w = sum(params_b(b) for b in bl) * 4 / 1e6
    return hot, w, len(bl)
d = t.dense()
rows = []
for a, ms, r in zip(ctx.archs, ctx.ms, ctx.ratios):
    hot, w, n = feats(a)
    rows.append(("cover", a, ms, hot, w, n, float(d.predict_latency(np.array([a]))[0])))
for f in reports:
    rep = json.load(open(f))
    for row in rep["rows"]:
        a = tuple(row["arch"]); hot, w, n = feats(a)
        rows.append((f.split("/")[-2], a, row["corrected"] or row["measured"], hot, w, n, row["predicted"]))
print("kind        meas   hot   ratio  wMB  blocks pred  err")
for k, a, ms, hot, w, n, p in rows:
    print(f"{k:10s} {ms:6.3f} {hot:6.3f} {ms/hot:5.2f} {w:5.1f} {n:3d} {p:6.3f} {100*(p/ms-1):+5.1f}%")
# fit net = hot + beta*w + alpha on covering
C = np.array([(ms, hot, w) for k, a, ms, hot, w, n, p in rows if k == "cover"])
X = np.c_[C[:, 2], np.ones(len(C))]; y = C[:, 0] - C[:, 1]
beta, alpha = np.linalg.lstsq(X, y, rcond=None)[0]
print("additive fit: extra = %.4f ms/MB * w + %.4f" % (beta, alpha))
X2 = np.c_[C[:, 1], C[:, 2], np.ones(len(C))]
co = np.linalg.lstsq(X2, C[:, 0], rcond=None)[0]
print("linear fit: net = %.3f*hot + %.4f*w + %.4f" % tuple(co))
for k, a, ms, hot, w, n, p in rows:
    if k != "cover":
        p1 = hot + beta * w + alpha; p2 = co[0]*hot + co[1]*w + co[2]
        print(f"{k:10s} meas {ms:.3f} cur {100*(p/ms-1):+5.1f}%  additive {100*(p1/ms-1):+5.1f}%  linear {100*(p2/ms-1):+5.1f}%")
print("--- in-sample fits on all points")
A = np.array([(ms, hot, w) for k, a, ms, hot, w, n, p in rows])
for name, X in [("k*hot+phi*W+c", np.c_[A[:,1], A[:,2], np.ones(len(A))]), ("k*hot+c", np.c_[A[:,1], np.ones(len(A))]),
                ("hot*(a+b*W)", np.c_[A[:,1], A[:,1]*A[:,2]])]:
    co = np.linalg.lstsq(X, A[:,0], rcond=None)[0]; e = X@co/A[:,0]-1
    print(name, np.round(co,4), "max|e| %.1f%% rms %.1f%%" % (100*abs(e).max(), 100*np.sqrt((e**2).mean())))
    print("   ", " ".join(f"{100*x:+.0f}" for x in e))
# isotonic ratio(W)
order = np.argsort(A[:,2]); print("W, ratio sorted:", " ".join(f"{A[i,2]:.1f}:{A[i,0]/A[i,1]:.2f}" for i in order))
