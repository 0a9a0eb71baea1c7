"""Which kernels gain from the second core: every fused kernel of a network built for 2 threads,
timed hot alone with TVM's thread pool at 1 and at 2 threads, alternating (`runtime.config_threadpool`).
python scaling.py SPACE INDEX ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = "2"
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np
import tvm, tvm_ffi
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.profiler.kernel_timing import kernel_arguments
from lutnas.spaces import get_space

space, index, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
target = get_target("x86", num_cores=2, **host_cpu_options())
shape = (1, 3, 224, 224)
work = Path(f"/tmp/probe/scaling/{space}{index}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(sp.build(arch, 224).eval(), shape, work / "net.onnx")
ks = kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", 2, 20, work, "hot")
dev = tvm.cpu()
config = tvm_ffi.get_global_func("runtime.config_threadpool")
nthreads = tvm_ffi.get_global_func("runtime.NumThreads")
fns = []
for k in ks:
    lib = tvm.runtime.load_module(str(k.job.library_path))
    f = lib.time_evaluator(k.job.function, dev, number=20, repeat=1, min_repeat_ms=0)
    args = kernel_arguments(k.job, dev)
    f(*args)
    fns.append((k, f, args))
t = {1: [[] for _ in ks], 2: [[] for _ in ks]}
for r in range(rounds):
    for n in ((1, 2) if r % 2 == 0 else (2, 1)):
        config(1, n)
        assert nthreads() == n, nthreads()
        for i, (k, f, a) in enumerate(fns):
            t[n][i].append(f(*a).mean * 1e6 * k.calls)
one = np.array([np.median(x) for x in t[1]]); two = np.array([np.median(x) for x in t[2]])
print(f"{space}#{index}: summed kernels 1 thread {one.sum():.0f} us, 2 threads {two.sum():.0f} us (x{two.sum() / one.sum():.3f})")
order = np.argsort(-(two - one / 2))
print("kernels by time lost to perfect scaling (2t - 1t/2):")
for i in order[:25]:
    k = fns[i][0]
    print(f"{k.kind:12s} {k.shape:32s} x{k.calls} 1t {one[i]:7.1f} 2t {two[i]:7.1f} us  x{two[i] / one[i]:.2f}  lost {two[i] - one[i] / 2:6.1f}  {k.name[:50]}")
small = one < 20
print(f"kernels under 20 us at 1 thread: {small.sum()} of {len(ks)}, 1t {one[small].sum():.0f} us, 2t {two[small].sum():.0f} us")
