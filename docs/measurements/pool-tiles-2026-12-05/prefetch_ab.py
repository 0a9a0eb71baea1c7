import sys, time, numpy as np, tvm
from tvm import relax
from unittest.mock import patch
from contextlib import ExitStack
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.pipeline import build_pipeline
from lutnas.spaces import get_space
import lutnas.lowering.weight_prefetch as wp
space = get_space(sys.argv[1]); arch = space.sample(np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 0))
shape = (1, 3, 224, 224)
path = export_onnx(space.build(arch, 224), shape, f"/tmp/vt/{sys.argv[1]}0.onnx")
spec = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu())); target = spec.tvm_target()
variants = [("off", {"PREFETCH_NEXT_WEIGHTS": False})] + [(v, eval("dict(" + v + ")")) for v in sys.argv[3:]]
vms = []
for name, kw in variants:
    with ExitStack() as st:
        for k, v in kw.items():
            st.enter_context(patch.object(wp, k, v))
        mod = import_onnx(path, shape).mod
        ex = tvm.compile(mod, target=target, relax_pipeline=build_pipeline("lutnas-cpu", target))
    vms.append(relax.VirtualMachine(ex, tvm.cpu()))
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
res = [[] for _ in vms]
for r in range(9):
    for i, vm in enumerate(vms):
        vm["main"](x)
        ts = []
        for _ in range(10):
            t = time.perf_counter(); vm["main"](x); ts.append(time.perf_counter() - t)
        res[i].append(np.median(ts))
a = np.array(res[0])
for (name, _), r in zip(variants, res):
    print(f"{name:40s} {np.median(r)*1e3:.3f} ms x{np.median(np.array(r)/a):.3f}")
