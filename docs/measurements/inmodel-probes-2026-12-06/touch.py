"""In-model kernel timing with parts of the kernel's arguments brought into cache before the call:
python touch.py SPACE INDEX THREADS ROUNDS KINDPREFIX"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np, tvm
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.spaces import get_space
from lutnas.profiler import board_hooks as bh

space, index, threads, rounds, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
target = get_target("x86", num_cores=threads, mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))
shape = (1, 3, 224, 224)
work = Path(f"/tmp/probe/touch/{space}{index}-{threads}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(sp.build(arch, 224), shape, work / "net.onnx")
ks = [k for k in kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 20, work, "in-model") if k.kind.startswith(prefix)]
model_lib = tvm.runtime.load_module(str(work / "net.so"))
klibs = list(work.glob("*kernels*.so")) or list(work.glob("*.so"))
print([p.name for p in work.glob("*.so")])
kernel_lib = tvm.runtime.load_module(str(work / "net.kernels.so"))
dev = tvm.cpu()
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), dev)
rep = bh.Replay(model_lib, kernel_lib, x)
state = {"touch": []}
def pre(*_a):
    bh._run_rest()
    for src, dst in state["touch"]:
        src.copyto(dst)
tvm.register_global_func("probe.pre", pre, override=True)
def scratch(t):
    return tvm.runtime.empty(tuple(t.shape), t.dtype, dev)
variants = ("none", "weights", "output", "both", "input")
res = {k.name: {v: [] for v in variants} for k in ks}
for r in range(rounds):
    for k in ks:
        i = rep.select(k.name); name, fn, args = rep.calls[i]
        ins, out = args[:-1], args[-1]
        sc = {id(a): scratch(a) for a in args}
        touches = {"none": [], "weights": [(a, sc[id(a)]) for a in ins[1:]],
                   "output": [(sc[id(out)], out)], "both": [(a, sc[id(a)]) for a in ins[1:]] + [(sc[id(out)], out)],
                   "input": [(ins[0], sc[id(ins[0])])]}
        for v in (variants if r % 2 == 0 else variants[::-1]):
            state["touch"] = touches[v]
            ev = kernel_lib.time_evaluator(name, dev, number=1, repeat=15, min_repeat_ms=0, f_preproc="probe.pre")
            res[k.name][v].append(float(np.median(ev(*args).results)) * 1e6)
tot = {v: sum(np.median(res[k.name][v]) * k.calls for k in ks) for v in variants}
print("summed us:", {v: round(t) for v, t in tot.items()})
for k in ks:
    m = {v: np.median(res[k.name][v]) for v in variants}
    print(f"{k.calls} {k.kind:12s} {k.shape:34s} " + " ".join(f"{v} {m[v]:7.1f}" for v in variants))
