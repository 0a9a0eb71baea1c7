"""Cost of a TVM parallel launch: a tiny kernel with and without `parallel`, at TVM_NUM_THREADS=argv[1]."""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[1]
import numpy as np, tvm
from tvm.script import tirx as T
from lutnas.lowering.targets import get_target, system_cpu
target = get_target("x86", mcpu=system_cpu()).tvm_target()

def make(par):
    @T.prim_func
    def f(a: T.Buffer((64, 16), "float32"), b: T.Buffer((64, 16), "float32")):
        T.func_attr({"global_symbol": "f", "tirx.noalias": True})
        for i in (T.parallel(64) if par else T.serial(64)):
            for j in T.vectorized(16):
                b[i, j] = a[i, j] + T.float32(1)
    return f
for par in (False, True):
    lib = tvm.tirx.build(tvm.IRModule({"f": make(par)}), target=target)
    a = tvm.runtime.tensor(np.zeros((64, 16), "float32")); b = tvm.runtime.tensor(np.zeros((64, 16), "float32"))
    ts = [lib.time_evaluator("f", tvm.cpu(), number=2000, repeat=1)(a, b).mean * 1e6 for _ in range(7)]
    print(f"threads {sys.argv[1]} parallel={par}: {np.median(ts):.2f} us per call")
