"""onnxruntime's network time with its per-node profiler on and off, interleaved: python ortprof.py ONNX RES"""
import sys, time, tempfile
import numpy as np
sys.path.insert(0, "/work/main")
from lutnas.lowering.ort import ort_session
path, res = sys.argv[1], int(sys.argv[2])
x = np.random.default_rng(1).standard_normal((1, 3, res, res)).astype("float32")
work = tempfile.mkdtemp()
plain = ort_session(path, threads=1)
prof = ort_session(path, threads=1, profile_prefix=f"{work}/p")
name = plain.get_inputs()[0].name
for s in (plain, prof):
    for _ in range(5): s.run(None, {name: x})
def t(s, n=10):
    t0 = time.perf_counter()
    for _ in range(n): s.run(None, {name: x})
    return (time.perf_counter() - t0) / n * 1e3
ratios = []
for r in range(9):
    a, b = (t(plain), t(prof)) if r % 2 == 0 else tuple(reversed((t(prof), t(plain))))
    ratios.append(b / a); print(f"plain {a:.3f} ms  profiled {b:.3f} ms  x{b/a:.3f}")
print(f"median profiled / plain: x{np.median(ratios):.3f}")
