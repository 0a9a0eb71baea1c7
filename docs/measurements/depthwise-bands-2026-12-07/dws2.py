"""Standalone NHWC depthwise convs alone, hot: lutnas-cpu's rule as shipped ('rules') against variants,
alternating; onnxruntime's Conv node (profiled, median) on the same model.
THREADS=1 VARMOD=variants VARIANTS=rules,bands28 PYTHONPATH=. python dws2.py ROUNDS C,HW,K,S ...
(`variants.py`: revision 32's rule with its padding as a block, or channel vectors outside bands of
N rows; `variants2.py`, revision 33: 'rows' = the row-by-row order, bands forced off.)"""
import os, sys, json, tempfile
THREADS = int(os.environ.get("THREADS", "1")); os.environ["TVM_NUM_THREADS"] = str(THREADS)
sys.path.insert(0, "/work/main/bench")
import numpy as np, torch, onnxruntime as ort
from unittest.mock import patch
from pathlib import Path
import kernel_roofline as kr
Path('/tmp/probe/work').mkdir(parents=True, exist_ok=True)
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.rules import nhwc
from lutnas.profiler.runners import LocalRunner
ROUNDS = int(sys.argv[1])
VARIANTS = os.environ.get("VARIANTS", "rules,padblock").split(",")
spec = get_target("x86", num_cores=THREADS, **host_cpu_options())
runner = LocalRunner(spec, "tvm", THREADS)
orig_inline = None
class Net(torch.nn.Module):
    def __init__(s, c, k, st):
        super().__init__(); s.conv = torch.nn.Conv2d(c, c, k, st, k // 2, groups=c)
    def forward(s, x):
        return torch.relu(s.conv(x + 1.0))
def ort_node(path, x):
    so = ort.SessionOptions(); so.intra_op_num_threads = THREADS; so.enable_profiling = True
    so.profile_file_prefix = tempfile.mkdtemp() + "/p"
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(100): s.run(None, {s.get_inputs()[0].name: x})
    ev = json.load(open(s.end_profiling()))
    d = [e["dur"] for e in ev if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and "Conv" in e["args"].get("op_name", "")]
    return float(np.median(d[len(d) // 2:]))
import importlib; variants = importlib.import_module(os.environ.get("VARMOD", "variants"))
for shp in sys.argv[2:]:
    c, hw, k, st = map(int, shp.split(","))
    path = export_onnx(Net(c, k, st).eval(), (1, c, hw, hw), Path(f"/tmp/probe/work/dw{c}-{hw}-{k}-{st}.onnx"))
    xn = np.random.default_rng(0).standard_normal((1, c, hw, hw)).astype("float32")
    jobs = []
    for tag in VARIANTS:
        with variants.variant(tag):
            work = Path(f"/tmp/probe/work/{tag}-dw{c}-{hw}-{k}-{st}"); work.mkdir(parents=True, exist_ok=True)
            ks = kr.tvm_kernels(path, (1, c, hw, hw), spec, "lutnas-cpu", THREADS, 30, work, "hot")
        jobs.append(max(ks, key=lambda k: k.flops).job)
    res = [[] for _ in jobs]
    for r in range(ROUNDS):
        for i, job in enumerate(jobs):
            res[i].append(float(np.median(runner.measure_kernel(job).samples_ms)) * 1e3)
    ortt = ort_node(path, xn)
    o = hw // st
    flop = 2 * o * o * c * k * k
    base_ = np.array(res[0])
    line = f"c{c:4d} {hw:3d}px k{k} s{st}: ort node {ortt:6.1f} us {flop/ortt/1e3:4.0f} GF |"
    for tag, rr in zip(VARIANTS, res):
        line += f" {tag} {np.median(rr):6.1f} us {flop/np.median(rr)/1e3:4.0f} GF x{np.median(np.array(rr) / base_):.3f} |"
    print(line, flush=True)
