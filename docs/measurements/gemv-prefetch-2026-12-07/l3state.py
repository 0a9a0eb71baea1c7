"""Whole networks, one thread, 224 px: back-to-back runs ('loop') against one run after something else
ran first (STATES: write:MB, read:MB, spin:MS, sleep:MS), each the median of 5 runs a round. Are the
weights in L3 between runs of the loop? ORDER=fixed keeps the states' order in every round (the first
run of 04:18), ORDER=alternate reverses it every other round.
ORDER=alternate python l3state.py SPACE INDICES ROUNDS write:4,write:32,write:300"""
import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
from pathlib import Path
import numpy as np, tvm, time
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.spaces import get_space


def spin(sec):
    end = time.perf_counter() + sec
    while time.perf_counter() < end:
        pass


def state(spec):
    """A function that sets up the cache state `spec` before a run."""
    kind, amount = spec.split(":")
    if kind in ("write", "read"):
        buf = np.ones(int(amount) << 18, np.float32)
        if kind == "write":
            return lambda: buf.__setitem__(slice(None, None, 16), buf[::16] + 1.0)
        return lambda: float(buf[::16].sum())
    return (lambda: spin(float(amount) / 1e3)) if kind == "spin" else (lambda: time.sleep(float(amount) / 1e3))


space, indices, rounds = sys.argv[1], [int(i) for i in sys.argv[2].split(",")], int(sys.argv[3])
pre = {"loop": lambda: None, **{s: state(s) for s in sys.argv[4].split(",")}}
alternate = os.environ.get("ORDER", "alternate") == "alternate"
target = get_target("x86", num_cores=1, **host_cpu_options())
sp = get_space(space); rng = np.random.default_rng(0)
archs = [sp.sample(rng) for _ in range(max(indices) + 1)]
shape = (1, 3, 224, 224)
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
Path("/tmp/probe/work").mkdir(parents=True, exist_ok=True)
for i in indices:
    path = export_onnx(sp.build(archs[i], 224).eval(), shape, Path(f"/tmp/probe/work/{space}{i}.onnx"))
    mod, _ = import_model(path, shape)
    f = relax.VirtualMachine(compile_lowered(lower_relax(mod, target, "lutnas-cpu"), target), tvm.cpu())["main"]
    for _ in range(10):
        f(x)
    res = {k: [] for k in pre}
    for r in range(rounds):
        for k in (list(pre)[::-1] if alternate and r % 2 else list(pre)):
            ts = []
            for _ in range(5):
                pre[k]()
                s = time.perf_counter(); f(x); ts.append(time.perf_counter() - s)
            res[k].append(np.median(ts) * 1e3)
    base = np.array(res["loop"])
    print(f"{space}#{i}: loop {np.median(base):.3f} ms | " + " | ".join(
        f"{k} x{np.median(np.array(res[k]) / base):.3f}" for k in list(pre)[1:]), flush=True)
