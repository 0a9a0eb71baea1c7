"""Whole networks, one thread: back-to-back runs (the headline's loop) against one run after writing
FLUSH_MB (every line), alternating. Are the weights in L3 between runs of the loop?
python l3state.py SPACE INDICES ROUNDS FLUSH_MB[,MB...]"""
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
sizes = [int(m) for m in sys.argv[4].split(",")]
target = get_target("x86", num_cores=1, **host_cpu_options())
sp = get_space(space); rng = np.random.default_rng(0)
archs = [sp.sample(rng) for _ in range(max(indices) + 1)]
shape = (1, 3, 224, 224)
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
bufs = {m: np.ones(m << 18, dtype=np.float32) for m in sizes}
Path("/tmp/probe/work").mkdir(parents=True, exist_ok=True)
for i in indices:
    path = export_onnx(sp.build(archs[i], 224).eval(), shape, Path(f"/tmp/probe/work/{space}{i}.onnx"))
    mod, _ = import_model(path, shape)
    vm = relax.VirtualMachine(compile_lowered(lower_relax(mod, target, "lutnas-cpu"), target), tvm.cpu())
    f = vm["main"]
    for _ in range(10): f(x)
    res = {k: [] for k in ["loop"] + sizes}
    for r in range(rounds):
        for k in res:
            ts = []
            for _ in range(5):
                if k != "loop":
                    bufs[k][::16] += 1.0
                s = time.perf_counter(); f(x); ts.append(time.perf_counter() - s)
            res[k].append(np.median(ts) * 1e3)
    base = np.array(res["loop"])
    print(f"{space}#{i}: loop {np.median(base):.3f} ms | " + " | ".join(
        f"after {k} MB written x{np.median(np.array(res[k]) / base):.3f}" for k in sizes), flush=True)
