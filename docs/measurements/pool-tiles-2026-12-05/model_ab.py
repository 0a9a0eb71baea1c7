"""Any ONNX model built twice in one process, once with a module attribute patched ("off"), and timed
in interleaved rounds (9 rounds of 10 calls; median of the per-round ratios).

    TVM_NUM_THREADS=1 python model_ab.py vit1-r128.onnx lutnas.lowering.rules.softmax ROW_BY_ROW_BYTES '1 << 60'
    TVM_NUM_THREADS=1 python model_ab.py mixer1-r128.onnx lutnas.lowering.rules.matmul _packed_matrix 'lambda *a: False'
(the second with `matmul-strip-prefetch-probe.diff` applied)."""
import importlib, sys, time
import numpy as np, onnx, tvm
from tvm import relax
from unittest.mock import patch
from lutnas.lowering import get_target
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.pipeline import build_pipeline
path, module, attr, off = sys.argv[1:5]
mod = importlib.import_module(module)
shape = tuple(d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim)
target = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu())).tvm_target()
vms = []
for value in (eval(off), getattr(mod, attr)):
    with patch.object(mod, attr, value):
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
print(f"{path.split('/')[-1]}: off {np.median(a)*1e3:.3f} ms, on {np.median(b)*1e3:.3f} ms, x{np.median(b/a):.3f}")
