"""Depthwise kernels (alone and fused) in-model, HWIO vs packed weights, interleaved:
python dwab.py SPACE INDEX THREADS ROUNDS MODE"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from unittest.mock import patch
import numpy as np, tvm
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.rules import nhwc
from lutnas.spaces import get_space
from lutnas.profiler.runners import LocalRunner

space, index, threads, rounds, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
target = get_target("x86", num_cores=threads, mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))
shape = (1, 3, 224, 224)
work = Path(f"/tmp/probe/dwab/{space}{index}-{threads}-{mode}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(sp.build(arch, 224), shape, work / "net.onnx")
modes = ("hwio", "packed")
ks = {}
for m in modes:
    d = work / m; d.mkdir(exist_ok=True)
    with patch.object(nhwc, "PACK_DEPTHWISE_WEIGHTS", m == "packed"):
        ks[m] = [k for k in kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 20, d, mode)
                 if k.kind.startswith("depthwise")]
runner = LocalRunner(target, "tvm", threads)
res = {m: [] for m in modes}
for r in range(rounds):
    for m in (modes if r % 2 == 0 else modes[::-1]):
        res[m].append({w.name: w.ms for w in kr.time_tvm(ks[m], runner, f"{m} {r}")})
assert [k.shape for k in ks["hwio"]] == [k.shape for k in ks["packed"]], "kernel lists differ"
rename = {kp.name: kh.name for kh, kp in zip(ks["hwio"], ks["packed"])}
res["packed"] = [{rename[n]: v for n, v in x.items()} for x in res["packed"]]
names = [k.name for k in ks["hwio"]]
print([(kh.name[:30], kp.name[:30]) for kh, kp in zip(ks["hwio"], ks["packed"]) if kh.name != kp.name][:3])
ratios = [sum(res["packed"][r][k.name] * k.calls for k in ks["hwio"]) / sum(res["hwio"][r][k.name] * k.calls for k in ks["hwio"]) for r in range(rounds)]
print("summed packed/hwio per round:", " ".join(f"{x:.3f}" for x in ratios), "median", f"{np.median(ratios):.3f}")
med = {m: {n: float(np.median([x[n] for x in res[m]])) for n in names} for m in modes}
for k in sorted(ks["hwio"], key=lambda k: -med["hwio"][k.name] * k.calls):
    h, p = med["hwio"][k.name] * 1e3, med["packed"][k.name] * 1e3
    rr = np.median([res["packed"][r][k.name] / res["hwio"][r][k.name] for r in range(rounds)])
    print(f"{k.calls} {k.kind:12s} {k.shape:34s} hwio {h:7.1f} packed {p:7.1f} x{rr:.3f} {k.name[:36]}")
