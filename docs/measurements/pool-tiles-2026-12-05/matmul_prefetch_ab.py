"""Any ONNX model built twice in one process (a module constant patched), timed in interleaved rounds."""
import sys, time, numpy as np, tvm, onnx
from tvm import relax
from unittest.mock import patch
from lutnas.lowering import get_target
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.pipeline import build_pipeline
import lutnas.lowering.rules.matmul as mm
path = sys.argv[1]
m = onnx.load(path); dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]; shape = tuple(dims)
target = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu())).tvm_target()
vms = []
for on in (False, True):
    with patch.object(mm, "_packed_matrix", (lambda *a: False) if not on else mm._packed_matrix):
        ex = tvm.compile(import_onnx(path, shape).mod, target=target, relax_pipeline=build_pipeline("lutnas-cpu", target))
    vms.append(relax.VirtualMachine(ex, tvm.cpu()))
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
outs = [vm["main"](x).numpy() for vm in vms]
print("max diff", float(np.abs(outs[0] - outs[1]).max()), "range", float(np.abs(outs[0]).max()))
res = [[], []]
for r in range(9):
    for i, vm in enumerate(vms):
        vm["main"](x); ts = []
        for _ in range(10):
            t = time.perf_counter(); vm["main"](x); ts.append(time.perf_counter() - t)
        res[i].append(np.median(ts))
a, b = np.array(res[0]), np.array(res[1])
print(f"{path.split('/')[-1]}: no prefetch {np.median(a)*1e3:.3f} ms, strip prefetch {np.median(b)*1e3:.3f} ms, x{np.median(b/a):.3f}")
