"""Build one block with a variant; loop its fused kernel (the heaviest) for SECS seconds (for perf)."""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/bench"); sys.path.insert(0, "/tmp/probe/roll")
from pathlib import Path
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.spaces.blocks import BlockSpec
from contextlib import ExitStack
import rolling
block, size, variant, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
spec = BlockSpec.parse(block); shape = (1, spec.in_ch, size, size)
target = get_target("x86", num_cores=1, **host_cpu_options())
work = Path(f"/tmp/probe/roll/perf-{block}-{size}-{variant}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(spec.build().eval(), shape, work / "block.onnx")
with (rolling.rolling() if variant == "roll" else ExitStack()):
    ks = [k for k in kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", 1, 30, work, "hot") if k.flops > 0]
k = max(ks, key=lambda k: k.flops)
import tvm
from lutnas.profiler.kernel_timing import kernel_arguments
lib = tvm.runtime.load_module(str(k.job.library_path)); args = kernel_arguments(k.job, tvm.cpu())
f = lib.time_evaluator(k.job.function, tvm.cpu(), number=20, repeat=1)
print("lib", k.job.library_path, k.job.function, flush=True)
print("ready", os.getpid(), flush=True)
t0 = time.perf_counter(); n = []
while time.perf_counter() - t0 < secs:
    n.append(f(*args).mean)
import numpy as np
print(f"median {np.median(n)*1e6:.1f} us", flush=True)
