"""Whole networks, two builds alternating in one process: default against patched constants.
python netab.py SPACE INDICES THREADS ROUNDS module.CONST=value[,...]"""
import ast, importlib, time, os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
from contextlib import ExitStack
from pathlib import Path
from unittest.mock import patch
import numpy as np, tvm
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.spaces import get_space
space, indices, threads, rounds, spec = sys.argv[1], [int(i) for i in sys.argv[2].split(",")], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
target = get_target("x86", num_cores=threads, **host_cpu_options())
sp = get_space(space); rng = np.random.default_rng(0)
archs = [sp.sample(rng) for _ in range(max(indices) + 1)]
shape = (1, 3, 224, 224)
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
def patched():
    if spec.startswith("py:"):   # py:PATH:FN, a function in a probe file returning a context manager
        path, fn = spec[3:].rsplit(":", 1); sys.path.insert(0, os.path.dirname(path))
        return getattr(importlib.import_module(os.path.basename(path)[:-3]), fn)()
    st = ExitStack()
    for item in filter(None, spec.split(";")):
        t, v = item.split("="); m, c = t.rsplit(".", 1)
        st.enter_context(patch.object(importlib.import_module(m), c, eval(v)))
    return st
nets = []
for i in indices:
    path = export_onnx(sp.build(archs[i], 224).eval(), shape, Path(f"/tmp/probe/work/{space}{i}.onnx"))
    vms = []
    for ctx in (ExitStack, patched):
        t0 = time.perf_counter()
        with ctx():
            mod, _ = import_model(path, shape)
            vms.append(relax.VirtualMachine(compile_lowered(lower_relax(mod, target, "lutnas-cpu"), target), tvm.cpu()))
        print(f"{space}#{i} {'patched' if ctx is patched else 'default'} compiled in {time.perf_counter() - t0:.1f} s", flush=True)
    a, b = (vm["main"](x).numpy() for vm in vms)
    assert np.abs(a - b).max() < 1e-3 * max(1, np.abs(a).max())
    nets.append((f"{space}#{i}", vms))
for name, vms in nets:
    r = []
    for k in range(rounds):
        order = (0, 1) if k % 2 == 0 else (1, 0)
        t = {}
        for j in order:
            t[j] = vms[j].time_evaluator("main", tvm.cpu(), number=5, repeat=1)(x).mean
        r.append(t[1] / t[0])
    print(f"{name}: patched/default median x{np.median(r):.3f} (IQR {np.percentile(r, 25):.3f}-{np.percentile(r, 75):.3f})", flush=True)
