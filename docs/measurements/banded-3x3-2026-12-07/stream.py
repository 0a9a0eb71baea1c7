import numpy as np, time
W = np.random.rand(1000, 1280).astype(np.float32); x = np.random.rand(1280).astype(np.float32)
big = np.zeros(64 << 20 >> 2, np.float32)
def flush(): big[::16] += 1.0
def t(f, n=30):
    ts = []
    for _ in range(n):
        flush(); t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return np.median(ts) * 1e6
for name, f in [("W@x", lambda: W @ x), ("x@W.T", lambda: x @ W.T), ("W.sum", lambda: W.sum()), ("hot W@x", None)]:
    if f is None:
        ts=[]; 
        for _ in range(30): t0=time.perf_counter(); W@x; ts.append(time.perf_counter()-t0)
        us=np.median(ts)*1e6
    else: us = t(f)
    print(f"{name:8s} {us:7.1f} us  {W.nbytes/us/1e3:5.1f} GB/s")
