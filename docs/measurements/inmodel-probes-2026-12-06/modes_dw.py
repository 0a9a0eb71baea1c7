"""One network's 1x1 kernels timed hot, flushed (weights + output from memory) and in-model, interleaved:
python modes.py SPACE INDEX THREADS ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np, tvm
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.spaces import get_space
from lutnas.profiler.runners import LocalRunner

space, index, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
target = get_target("x86", num_cores=threads, mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))
shape = (1, 3, 224, 224)
work = Path(f"/tmp/probe/modes-dw/{space}{index}"); work.mkdir(exist_ok=True)
onnx = export_onnx(sp.build(arch, 224), shape, work / "net.onnx")
modes = ("hot", "flush", "in-model")
ks = {}
for m in modes:
    d = work / m; d.mkdir(exist_ok=True)
    ks[m] = [k for k in kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 20, d, m)
             if k.kind.startswith("depthwise")]
runner = LocalRunner(target, "tvm", threads)
res = {m: [] for m in modes}
for r in range(rounds):
    for m in (modes if r % 2 == 0 else modes[::-1]):
        res[m].append({w.name: w.ms for w in kr.time_tvm(ks[m], runner, f"{m} {r}")})
med = {m: {n: float(np.median([x[n] for x in res[m]])) for n in res[m][0]} for m in modes}
tot = {m: sum(med[m][k.name] * k.calls for k in ks["hot"]) for m in modes}
print("summed (us):", {m: round(t * 1e3) for m, t in tot.items()})
for m in modes:
    print(m, "per round (us):", [round(sum(x[k.name] * k.calls for k in ks["hot"]) * 1e3) for x in res[m]])
rows = sorted(ks["hot"], key=lambda k: -(med["in-model"][k.name] - med["hot"][k.name]) * k.calls)
for k in rows[:25]:
    h, f, i = (med[m][k.name] * 1e3 for m in modes)
    print(f"{k.calls} {k.kind:12s} {k.shape:32s} MB {k.nbytes/2**20:5.2f} hot {h:7.1f} flush {f:7.1f} x{f/h:.2f} in-model {i:7.1f} x{i/h:.2f}  {k.name[:40]}")
