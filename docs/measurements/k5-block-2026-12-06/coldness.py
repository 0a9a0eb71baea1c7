"""What the network's cache state costs each kernel: every fused kernel timed hot alone and in-model
(the profiler's in-model timing: each call after the rest of the network, on its buffers), the two
modes alternating over rounds, one build.
python coldness.py SPACE INDEX THREADS ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench")
from dataclasses import replace
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_roofline as kr
from blockab_lib import network_kernels

space, index, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
inmodel, runner, shape, work = network_kernels("coldness", space, index, threads)
hot = [replace(k, job=replace(k.job, cache_mode="hot")) for k in inmodel]
res = {"hot": [], "in-model": []}
for r in range(rounds):
    for mode, ks in ((("hot", hot), ("in-model", inmodel)) if r % 2 == 0 else (("in-model", inmodel), ("hot", hot))):
        res[mode].append([w.ms * w.calls * 1e3 for w in kr.time_tvm(ks, runner, mode)])
h = np.median(np.array(res["hot"]), axis=0); m = np.median(np.array(res["in-model"]), axis=0)
print(f"{space}#{index} {threads}t: summed hot {h.sum():.0f} us, in-model {m.sum():.0f} us (x{m.sum() / h.sum():.3f})")
for i in np.argsort(-(m - h))[:20]:
    k = inmodel[i]
    gf = k.flops * k.calls / 1e3
    print(f"{k.kind:12s} {k.shape:32s} x{k.calls} hot {h[i]:7.1f} ({gf / h[i]:5.1f} GF/s) in-model {m[i]:7.1f} ({gf / m[i]:5.1f}) "
          f"x{m[i] / h[i]:.2f} +{m[i] - h[i]:5.1f} us  {k.name[:44]}")
