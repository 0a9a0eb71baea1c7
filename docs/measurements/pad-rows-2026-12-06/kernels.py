"""fbnet#I's kernels hot, built with zero pad rows and with sliced 1x1 inputs; pairs that differ.
python kernels.py SPACE INDEX ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from unittest.mock import patch
from dataclasses import replace
import numpy as np
import kernel_roofline as kr
from lutnas.lowering import channel_pad, export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.profiler.runners import LocalRunner
from lutnas.spaces import get_space

space, index, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "hot"
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
target = get_target("x86", num_cores=1, **host_cpu_options())
shape = (1, 3, 224, 224)
ks = {}
for flag in (False, True):
    work = Path(f"/tmp/probe/kpad/k-{space}{index}-{flag}"); work.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(sp.build(arch, 224).eval(), shape, work / "net.onnx")
    with patch.object(channel_pad, "SLICE_PAD_ROWS", flag):
        ks[flag] = kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", 1, 20, work, mode)
runner = LocalRunner(target, "tvm", 1)
res = {False: [], True: []}
for r in range(rounds):
    row = {False: [], True: []}
    for i in range(len(ks[False])):
        for flag in ((False, True) if (r + i) % 2 == 0 else (True, False)):
            w = kr.time_tvm([ks[flag][i]], runner, mode)[0]
            row[flag].append(w.ms * w.calls * 1e3)
    for flag in row: res[flag].append(row[flag])
a = np.median(np.array(res[False]), axis=0); b = np.median(np.array(res[True]), axis=0)
print(mode, f"{space}#{index}: kernels {len(ks[False])} / {len(ks[True])}; summed zero-rows {a.sum():.0f} us, sliced {b.sum():.0f} us (x{b.sum()/a.sum():.3f})")
for i, (ka, kb) in enumerate(zip(ks[False], ks[True])):
    if ka.name != kb.name or abs(b[i] - a[i]) > 0.04 * a[i]:
        print(f"{ka.kind:12s} {ka.shape:32s} {a[i]:7.1f} | {kb.kind:12s} {kb.shape:32s} {b[i]:7.1f}  x{b[i]/a[i]:.3f}  {kb.name[:50]}")
