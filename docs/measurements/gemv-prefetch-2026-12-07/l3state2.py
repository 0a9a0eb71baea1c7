"""Whole networks, one thread: back-to-back runs against one run after something else ran first,
alternating. python l3state2.py SPACE INDICES ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
from pathlib import Path
import numpy as np, tvm, time
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.spaces import get_space
space, indices, rounds = sys.argv[1], [int(i) for i in sys.argv[2].split(",")], int(sys.argv[3])
target = get_target("x86", num_cores=1, **host_cpu_options())
sp = get_space(space); rng = np.random.default_rng(0)
archs = [sp.sample(rng) for _ in range(max(indices) + 1)]
shape = (1, 3, 224, 224)
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
b1, b4 = np.ones(1 << 18, np.float32), np.ones(4 << 18, np.float32)
def spin(sec):
    e = time.perf_counter() + sec
    while time.perf_counter() < e: pass
pre = {
    "loop": lambda: None,
    "write 1MB": lambda: b1.__setitem__(slice(None, None, 16), b1[::16] + 1.0),
    "write 4MB": lambda: b4.__setitem__(slice(None, None, 16), b4[::16] + 1.0),
    "read 4MB": lambda: float(b4[::16].sum()),
    "spin 1ms": lambda: spin(1e-3),
    "sleep 1ms": lambda: time.sleep(1e-3),
}
Path("/tmp/probe/work").mkdir(parents=True, exist_ok=True)
for i in indices:
    path = export_onnx(sp.build(archs[i], 224).eval(), shape, Path(f"/tmp/probe/work/{space}{i}.onnx"))
    mod, _ = import_model(path, shape)
    vm = relax.VirtualMachine(compile_lowered(lower_relax(mod, target, "lutnas-cpu"), target), tvm.cpu())
    f = vm["main"]
    for _ in range(10): f(x)
    res = {k: [] for k in pre}
    for r in range(rounds):
        for k in (list(pre) if r % 2 == 0 else list(pre)[::-1]):
            ts = []
            for _ in range(5):
                pre[k]()
                s = time.perf_counter(); f(x); ts.append(time.perf_counter() - s)
            res[k].append(np.median(ts) * 1e3)
    base = np.array(res["loop"])
    print(f"{space}#{i}: loop {np.median(base):.3f} ms | " + " | ".join(
        f"{k} x{np.median(np.array(res[k]) / base):.3f}" for k in list(pre)[1:]), flush=True)
