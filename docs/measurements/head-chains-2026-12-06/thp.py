"""Do 2 MB pages help a network? Two VMs of one network library (two copies of the .so, so two dlopen handles and two sets of
constants); VM B's anonymous mappings that appeared while it loaded are collapsed into 2 MB pages
(madvise MADV_COLLAPSE); the two VMs are timed in turn over rounds. python thp.py LIB THREADS ROUNDS"""
import ctypes, os, shutil, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[2]
import numpy as np
import tvm
from tvm import relax

libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25

def maps():
    out = {}
    for line in open("/proc/self/maps"):
        f = line.split()
        lo, hi = (int(v, 16) for v in f[0].split("-"))
        out[(lo, hi)] = (f[1], f[5] if len(f) > 5 else "")
    return out

def anon_kb():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("AnonHugePages"):
            return int(line.split()[1])

libc.mallopt(-3, 64 * 1024)   # M_MMAP_THRESHOLD fixed: large blocks are fresh mappings
lib, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype("float32"), tvm.cpu())
vms = {}
for name in ("A", "B"):
    path = f"/tmp/probe/net_{name}.so"; shutil.copy(lib, path)
    before = maps()
    vm = relax.VirtualMachine(tvm.runtime.load_module(path), tvm.cpu())
    vm["main"](x)
    new = [(lo, hi) for (lo, hi), (perm, p) in maps().items() if (lo, hi) not in before and p == "" and "rw" in perm]
    print(name, "new anonymous rw mappings:", len(new), "MB", sum(h - l for l, h in new) / 2**20)
    if name == "B":
        hp = anon_kb()
        for lo, hi in new:
            a = (lo + (1 << 21) - 1) & ~((1 << 21) - 1); b = hi & ~((1 << 21) - 1)
            if b > a:
                libc.madvise(a, b - a, MADV_HUGEPAGE)
                r = libc.madvise(a, b - a, MADV_COLLAPSE)
                if r: print("collapse failed", ctypes.get_errno(), (b - a) >> 20, "MB")
        print("AnonHugePages kB", hp, "->", anon_kb())
    vms[name] = vm
ya, yb = vms["A"]["main"](x).numpy(), vms["B"]["main"](x).numpy()
assert np.array_equal(ya, yb)
timers = {n: vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1) for n, vm in vms.items()}
res = {"A": [], "B": []}
for r in range(rounds):
    for n in ("A", "B") if r % 2 == 0 else ("B", "A"):
        res[n].append(timers[n](x).mean * 1e3)
ra = np.array(res["B"]) / np.array(res["A"])
print(f"A {np.median(res['A']):.3f} ms  B(huge) {np.median(res['B']):.3f} ms  B/A median x{np.median(ra):.3f} "
      f"IQR {np.percentile(ra, 25):.3f}-{np.percentile(ra, 75):.3f}")
