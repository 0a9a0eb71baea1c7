"""Network (VM main) against the replayed chain of its kernel calls, same tensors, interleaved."""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = sys.argv[2] if len(sys.argv) > 2 else "1"
import numpy as np, tvm
from tvm import relax
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import import_model, compile_lowered
from lutnas.profiler.board_hooks import Replay
path = sys.argv[1]
spec = get_target("x86", mcpu=system_cpu()); target = spec.tvm_target()
shape = (1, 3, 224, 224)
mod, _ = import_model(path, shape)
with target:
    lowered = cpu_pipeline(target)(mod)
ex = compile_lowered(lowered, spec)
ex.export_library("/tmp/s5/net.so")
lib = tvm.runtime.load_module("/tmp/s5/net.so")
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
class K:
    def __init__(self, m): self.m = m
    def get_function(self, name):
        for sub in [self.m] + list(self.m.imports):
            try:
                return sub.get_function(name)
            except Exception:
                pass
        for sub in self.m.imports:
            for s2 in sub.imports:
                try: return s2.get_function(name)
                except Exception: pass
        raise RuntimeError(name)
rep = Replay(lib, K(lib), x)
print(len(rep.calls), "kernel calls")
vm = relax.VirtualMachine(lib, tvm.cpu())
calls = [(fn, args) for _, fn, args in rep.calls]
def chain():
    for fn, args in calls:
        fn(*args)
# python overhead per call: an empty-ish packed call
noop = tvm.get_global_func("runtime.GetDeviceAttr", allow_missing=True)
net, rep_t = [], []
for r in range(9):
    vm["main"](x)
    net.append(vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean * 1e3)
    chain(); t = time.perf_counter()
    for _ in range(10): chain()
    rep_t.append((time.perf_counter() - t) / 10 * 1e3)
net, rep_t = np.array(net), np.array(rep_t)
print(f"network {np.median(net):.3f} ms, python chain of its kernel calls {np.median(rep_t):.3f} ms, chain/network x{np.median(rep_t/net):.3f}")
# python overhead: time a chain of the same count of calls of a trivial kernel (smallest kernel args)
small = min(calls, key=lambda c: sum(int(np.prod(a.shape)) for a in c[1] if hasattr(a, 'shape')))
t = time.perf_counter()
for _ in range(2000): small[0](*small[1])
print(f"smallest kernel call from python {((time.perf_counter()-t)/2000)*1e6:.2f} us")
