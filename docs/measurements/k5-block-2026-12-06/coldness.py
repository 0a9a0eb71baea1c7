"""What the network's cache state costs each kernel: every fused kernel timed hot alone and in-model
(the profiler's in-model timing: each call after the rest of the network, on its buffers), the two
modes alternating over rounds, one build.
python coldness.py SPACE INDEX THREADS ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench")
from dataclasses import replace
from pathlib import Path
import numpy as np
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.profiler.runners import LocalRunner
from lutnas.spaces import get_space

space, index, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
target = get_target("x86", num_cores=threads, **host_cpu_options())
shape = (1, 3, 224, 224)
work = Path(f"/tmp/probe/coldness/{space}{index}-{threads}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(sp.build(arch, 224).eval(), shape, work / "net.onnx")
inmodel = kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 20, work, "in-model")
hot = [replace(k, job=replace(k.job, cache_mode="hot")) for k in inmodel]
runner = LocalRunner(target, "tvm", threads)
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
