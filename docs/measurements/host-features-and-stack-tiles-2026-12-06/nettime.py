"""Network time vs onnxruntime, one arch: TVM VM time_evaluator and ORT, interleaved."""
import os, sys, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
import numpy as np
from pathlib import Path
sys.path.insert(0, "/work/main")
import tvm
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.spaces import get_space
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax, compile_lowered
from lutnas.lowering.ort import ort_session

space_name, index, res = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 224
space, rng = get_space(space_name), np.random.default_rng(0)
arch = [space.sample(rng) for _ in range(index + 1)][-1]
shape = (1, 3, res, res)
path = export_onnx(space.build(arch, res).eval(), shape, Path(f"/tmp/probe/{space_name}{index}.onnx"))
spec = get_target("x86", num_cores=1, **host_cpu_options())
mod, _ = import_model(path, shape)
lowered = lower_relax(mod, spec, "lutnas-cpu")
ex = compile_lowered(lowered, spec)
vm = relax.VirtualMachine(ex, tvm.cpu())
x = np.random.default_rng(1).standard_normal(shape).astype("float32")
xt = tvm.runtime.tensor(x, tvm.cpu())
sess = ort_session(str(path), threads=1) if "threads" in ort_session.__code__.co_varnames else ort_session(str(path))
name = sess.get_inputs()[0].name
for _ in range(3):
    vm["main"](xt); sess.run(None, {name: x})
tv, ov = [], []
for r in range(7):
    tv.append(vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(xt).mean * 1e3)
    t0 = time.perf_counter()
    for _ in range(10):
        sess.run(None, {name: x})
    ov.append((time.perf_counter() - t0) / 10 * 1e3)
tv, ov = np.array(tv), np.array(ov)
print(f"{space_name}#{index}: tvm {np.median(tv):.3f} ms  ort {np.median(ov):.3f} ms  ratio {np.median(tv/ov):.3f}")
