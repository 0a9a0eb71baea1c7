"""Does a cycle's speed predict the TVM/onnxruntime ratio measured in it? For every 224 px, 1-thread
headline JSON under docs/measurements (bench/artifact_vs_ort.py --out): per network and cycle, the
ratio's log (less the network's median) against the cycle's speed, the mean log time (less each
network's median) of the *other* networks of the same cycle, TVM and onnxruntime alike (the network's
own onnxruntime time would correlate with its ratio by construction). python phase.py"""
import glob, json
import numpy as np

allx, ally = [], []
for f in sorted(glob.glob("docs/measurements/*/ort-r224-t1*.json")):
    d = json.load(open(f))
    ort = [np.array(r["ort_rounds_ms"]) for r in d["rows"]]
    tvm = [np.array(r["lutnas-cpu_rounds_ms"]) for r in d["rows"]]
    n = min(min(len(o) for o in ort), min(len(t) for t in tvm))
    lo = np.array([np.log(o[:n] / np.median(o[:n])) for o in ort])
    lt = np.array([np.log(t[:n] / np.median(t[:n])) for t in tvm])
    lr = lt - lo
    lr -= np.median(lr, axis=1, keepdims=True)
    xs, ys = [], []
    for i in range(len(ort)):
        others = [j for j in range(len(ort)) if j != i]
        xs += list((lo[others].mean(0) + lt[others].mean(0)) / 2)
        ys += list(lr[i])
    xs, ys = np.array(xs), np.array(ys)
    print(f"{f.split('/')[-2][:28]:28s} {f.split('/')[-1]:30s} corr {np.corrcoef(xs, ys)[0, 1]:+.2f}")
    allx += list(xs)
    ally += list(ys)
allx, ally = np.array(allx), np.array(ally)
q = np.quantile(allx, [0.25, 0.75])
print(f"all: {len(allx)} network-cycles, corr {np.corrcoef(allx, ally)[0, 1]:+.2f}, slope {np.polyfit(allx, ally, 1)[0]:+.3f}; "
      f"ratio against its network's median in the fastest quarter of cycles x{np.exp(np.median(ally[allx <= q[0]])):.3f}, "
      f"in the slowest x{np.exp(np.median(ally[allx >= q[1]])):.3f}")
