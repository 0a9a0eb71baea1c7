"""Do huge pages (THP) for a network's memory change its latency? Two VMs of one build in one process:
A on 4 KB pages, B's memory (weights, buffers) collapsed onto 2 MB pages; calls alternate.
python thp.py SPACE INDEX THREADS ROUNDS"""
import ctypes, os, re, shutil, sys, time
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
assert libc.mallopt(-3, 32 << 20) == 1   # M_MMAP_THRESHOLD: every allocation from the brk heap
assert libc.mallopt(-1, 64 << 20) == 1   # M_TRIM_THRESHOLD: never give the top back
from pathlib import Path
import numpy as np

space_name, index, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
work = Path(f"/tmp/probe/thp/{space_name}{index}-{threads}"); work.mkdir(parents=True, exist_ok=True)
so = work / "net.so"
if not so.exists():
    from lutnas.lowering import build, export_onnx, get_target
    from lutnas.lowering.targets import host_cpu_options
    from lutnas.spaces import get_space
    sp = get_space(space_name); rng = np.random.default_rng(0)
    arch = [sp.sample(rng) for _ in range(index + 1)][-1]
    target = get_target("x86", num_cores=threads, **host_cpu_options())
    onnx = export_onnx(sp.build(arch, 224).eval(), (1, 3, 224, 224), work / "net.onnx")
    build(onnx, (1, 3, 224, 224), target, pipeline="lutnas-cpu").export_library(so)
shutil.copy(so, work / "b.so")
import tvm
from tvm.runtime.vm import VirtualMachine

def heap_end():
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            return int(line.split()[0].split("-")[1], 16)

def anon_huge():
    return int(re.search(r"AnonHugePages:\s+(\d+)", open("/proc/self/smaps_rollup").read()).group(1))

dev = tvm.cpu(0)
x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype("float32")
def vm_of(path):
    vm = VirtualMachine(tvm.runtime.load_module(str(path)), dev)
    xt = tvm.runtime.tensor(x, dev)
    f = vm["main"]
    out = f(xt)
    return (lambda: f(xt)), (out if hasattr(out, "numpy") else out[0]).numpy()

def anon_maps():
    out = {}
    for line in open("/proc/self/maps"):
        f = line.split()
        if len(f) == 5 or f[-1] == "[heap]":
            a, b = (int(v, 16) for v in f[0].split("-")); out[a] = b
    return out
run_a, ya = vm_of(so)
m1 = anon_maps()
run_b, yb = vm_of(work / "b.so")
m2 = anon_maps()
before = anon_huge()
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
new = 0; coll = 0
for a, b in m2.items():
    start = m1.get(a) if a in m1 else a   # grown region: only its new part
    if start >= b: continue
    new += b - start
    lo, hi = (start + (2 << 20) - 1) & ~((2 << 20) - 1), b & ~((2 << 20) - 1)
    if hi > lo and os.environ.get("NOTHP") is None:
        rc = libc.madvise(ctypes.c_void_p(lo), hi - lo, 25); coll += hi - lo
        if rc: print("collapse failed", hex(lo), hi - lo, ctypes.get_errno())
print(f"B's new anon memory {new / 2**20:.1f} MB; collapsed {coll / 2**20:.0f} MB; AnonHugePages {before} -> {anon_huge()} kB")
assert np.allclose(ya, yb)
for f in (run_a, run_b):
    for _ in range(5): f()
ratios = []; ta = []; tb = []
for r in range(rounds):
    order = (("a", run_a), ("b", run_b)) if r % 2 == 0 else (("b", run_b), ("a", run_a))
    t = {}
    for name, f in order:
        f()
        t0 = time.perf_counter(); 
        for _ in range(3): f()
        t[name] = (time.perf_counter() - t0) / 3 * 1e3
    ratios.append(t["b"] / t["a"]); ta.append(t["a"]); tb.append(t["b"])
q = np.percentile(ratios, [25, 50, 75])
print(f"{space_name}#{index} {threads}t: 4K {np.median(ta):.3f} ms, THP {np.median(tb):.3f} ms, THP/4K median x{q[1]:.3f} (IQR {q[0]:.3f}-{q[2]:.3f}), {rounds} rounds")
