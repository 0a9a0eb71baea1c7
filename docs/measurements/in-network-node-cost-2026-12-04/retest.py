import pickle
from collections import defaultdict
import numpy as np
def sums(path):
    own = pickle.load(open(path, "rb"))
    nets = defaultdict(lambda: [0.0, 0.0])
    for key, ms in own.entries.items():
        for m in ms:
            nets[m.meta["network"]][0] += np.median(m.samples_ms) / m.meta["scale"]
            nets[m.meta["network"]][1] = m.meta["network_ms"]
    return nets
a, b = sums("/tmp/cov/own-fbnet128.pkl"), sums("/tmp/cov/own-fbnet128b.pkl")
x = np.array([a[k][0] / b[k][0] for k in a]); y = np.array([a[k][1] / b[k][1] for k in a])
print("profiled sum retest sd %.2f%% (median %.3f); plain latency retest sd %.2f%% (median %.3f)" % (100 * (x / np.median(x)).std(), np.median(x), 100 * (y / np.median(y)).std(), np.median(y)))
