"""One network: TVM through lutnas's LocalRunner (as artifact_vs_ort times it) against the VM's own
time_evaluator on the same exported library, and onnxruntime through the runner; alternating.
python harnessab.py SPACE SEED INDEX THREADS ROUNDS"""
import os, sys, tempfile
os.environ["TVM_NUM_THREADS"] = sys.argv[4]
from pathlib import Path
import numpy as np, tvm
from tvm import relax
from lutnas.lowering import build, export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.profiler.measurement import MeasureJob
from lutnas.profiler.runners import LocalRunner
from lutnas.spaces import get_space
space, seed, index, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sp = get_space(space); rng = np.random.default_rng(seed)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
work = Path(tempfile.mkdtemp()); shape = (1, 3, 224, 224)
onnx = export_onnx(sp.build(arch, 224), shape, work / "net.onnx")
target = get_target("x86", num_cores=threads, **host_cpu_options())
lib = build(onnx, shape, target, pipeline="lutnas-cpu", tuning_db=None).export_library(work / "net.so")
job = dict(input_shape=shape, target=target.name, threads=threads, repeats=3, min_repeat_ms=30.0)
tjob = MeasureJob(key="tvm", runtime="tvm", library_path=lib, **job)
ojob = MeasureJob(key="ort", runtime="onnxruntime", onnx_path=onnx, **job)
rt, ro = LocalRunner(target, "tvm", threads), LocalRunner(target, "onnxruntime", threads)
vm = relax.VirtualMachine(tvm.runtime.load_module(str(lib)), tvm.cpu())
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
te = vm.time_evaluator("main", tvm.cpu(), number=5, repeat=3)
res = {"runner-tvm": [], "vm-te": [], "runner-ort": []}
for r in range(rounds):
    res["runner-tvm"].append(float(np.median(rt.measure(tjob).samples_ms)))
    res["vm-te"].append(float(np.median(te(x).results)) * 1e3)
    res["runner-ort"].append(float(np.median(ro.measure(ojob).samples_ms)))
for k, v in res.items():
    print(f"{k:11s} median {np.median(v):7.3f} ms  rounds {' '.join(f'{a:.2f}' for a in v)}")
print(f"runner tvm/ort {np.median(np.array(res['runner-tvm']) / np.array(res['runner-ort'])):.3f}; vm-te/ort {np.median(np.array(res['vm-te']) / np.array(res['runner-ort'])):.3f}")
