"""Does running onnxruntime change how fast TVM's network runs next, in the same thread?
python mxcsr.py SPACE SEED INDEX"""
import os, sys, tempfile, ctypes
os.environ["TVM_NUM_THREADS"] = "1"
from pathlib import Path
import numpy as np, tvm, torch
from tvm import relax
import onnxruntime as ort
from lutnas.lowering import build, export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.spaces import get_space
space, seed, index = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sp = get_space(space); rng = np.random.default_rng(seed)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
work = Path(tempfile.mkdtemp()); shape = (1, 3, 224, 224)
onnx = export_onnx(sp.build(arch, 224), shape, work / "net.onnx")
target = get_target("x86", num_cores=1, **host_cpu_options())
lib = build(onnx, shape, target, pipeline="lutnas-cpu", tuning_db=None).export_library(work / "net.so")
vm = relax.VirtualMachine(tvm.runtime.load_module(str(lib)), tvm.cpu())
xn = np.random.default_rng(1).standard_normal(shape).astype("float32")
x = tvm.runtime.tensor(xn)
te = vm.time_evaluator("main", tvm.cpu(), number=10, repeat=3)
def t(): return float(np.median(te(x).results)) * 1e3
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
s = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
print("tvm before onnxruntime:", f"{t():.3f} {t():.3f} ms")
s.run(None, {s.get_inputs()[0].name: xn})
print("tvm after one onnxruntime run:", f"{t():.3f} {t():.3f} ms")
torch.set_flush_denormal(True)
print("tvm after torch.set_flush_denormal(True):", f"{t():.3f} {t():.3f} ms")
torch.set_flush_denormal(False)
print("tvm after torch.set_flush_denormal(False):", f"{t():.3f} {t():.3f} ms")
