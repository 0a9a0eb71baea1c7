"""One block alone (its ONNX: the block between NCHW<->NHWC transposes), built with patched rule
constants, its kernels timed hot in alternating rounds. Prints each build's summed kernel time (the
transposes excluded) and the ratio to the first build, per round and median.
python blockab.py BLOCK SIZE THREADS ROUNDS 'label:module.CONST=value[,...]' ...
(BLOCK as BlockSpec.encode writes it; value: a Python literal, or fn:NAME of kab.FUNCS)"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench"); sys.path.insert(0, '/work/main/docs/measurements/k5-block-2026-12-06')
sys.path.insert(0, "/work/main/docs/measurements/host-features-and-stack-tiles-2026-12-06")
from pathlib import Path
import numpy as np
import kernel_roofline as kr
from blockab_lib import patched_or_config
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.spaces.blocks import BlockSpec
from lutnas.profiler.runners import LocalRunner

block, size, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
variants = [("base", "")] + [tuple(v.split(":", 1)) for v in sys.argv[5:]]
spec = BlockSpec.parse(block)
shape = (1, spec.in_ch, size, size)
target = get_target("x86", num_cores=threads, **host_cpu_options())
work = Path(f"/tmp/probe/blockab/{block}-{size}-{threads}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(spec.build().eval(), shape, work / "block.onnx")
def load_py(p):
    import importlib
    path, fn = p[3:].rsplit(':', 1); sys.path.insert(0, os.path.dirname(path)); return getattr(importlib.import_module(os.path.basename(path)[:-3]), fn)()
mode = os.environ.get("MODE", "hot")


ks = {}
for label, p in variants:
    d = work / label.replace(" ", "_"); d.mkdir(exist_ok=True)
    with (load_py(p) if p.startswith('py:') else patched_or_config(p)):
        ks[label] = [k for k in kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 30, d, mode)
                     if k.flops > 0]
    print(label, [(k.kind, k.shape, k.name[:50]) for k in ks[label]], flush=True)
import tvm
from lutnas.profiler.kernel_timing import kernel_arguments
dev = tvm.cpu()
calls = {}
for label, _ in variants:
    calls[label] = []
    for k in ks[label]:
        lib = tvm.runtime.load_module(str(k.job.library_path))
        f = lib.time_evaluator(k.job.function, dev, number=int(os.environ.get("NUMBER", 5)), repeat=1, min_repeat_ms=0)
        args = kernel_arguments(k.job, dev)
        f(*args)
        calls[label].append((f, args, k.calls))
res = {label: [] for label, _ in variants}
for r in range(rounds):   # fine-grained alternation: one block of NUMBER calls per kernel per variant
    order = variants if r % 2 == 0 else variants[::-1]
    for label, _ in order:
        res[label].append([f(*a).mean * c for f, a, c in calls[label]])
for label, _ in variants:
    tot = [sum(x) * 1e6 for x in res[label]]
    ratio = [t / sum(b) / 1e6 for t, b in zip(tot, res["base"])]
    parts = np.median(np.array(res[label]), axis=0) * 1e6
    q = np.percentile(ratio, [25, 75])
    print(f"{label:24s} median {np.median(tot):7.1f} us  x{np.median(ratio):.3f} (IQR {q[0]:.3f}-{q[1]:.3f})"
          + "  kernels " + " ".join(f"{p:.1f}" for p in parts))
