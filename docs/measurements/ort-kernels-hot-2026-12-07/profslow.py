"""Does onnxruntime's profiler slow large compute nodes in proportion?  A chain of N identical 1x1
convs (+ReLU): unprofiled network time / N against the profiled Conv nodes' median, alternating.
python profslow.py C HW N ROUNDS"""
import json, sys, tempfile, time
from pathlib import Path
from ortsessions import sessions
import numpy as np, torch, onnxruntime as ort
C, HW, N, R = map(int, sys.argv[1:5])
net = torch.nn.Sequential(*[m for _ in range(N) for m in (torch.nn.Conv2d(C, C, 1), torch.nn.ReLU())]).eval()
path = Path(tempfile.mkdtemp()) / "chain.onnx"
torch.onnx.export(net, torch.randn(1, C, HW, HW), str(path), input_names=["x"], dynamo=False)
x = np.random.default_rng(0).standard_normal((1, C, HW, HW)).astype("float32")
plain, prof = sessions(path)
for s in (plain, prof):
    for _ in range(20): s.run(None, {"x": x})
pt, pp = [], []
for r in range(R):
    for _ in range(20):
        t0 = time.perf_counter(); plain.run(None, {"x": x}); pt.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); prof.run(None, {"x": x}); pp.append(time.perf_counter() - t0)
ev = json.load(open(prof.end_profiling()))
conv = [e["dur"] for e in ev if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and "Conv" in e["args"].get("op_name", "")]
other = [e["dur"] for e in ev if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and "Conv" not in e["args"].get("op_name", "")]
nconv = len(conv) // (len(pp) + 20)
runs = len(pp) + 20
print(f"{C}ch {HW}x{HW} x{N}: convs per run {nconv}, other nodes per run {len(other) // runs}")
print(f"network unprofiled {np.median(pt)*1e3:.3f} ms, profiled {np.median(pp)*1e3:.3f} ms (x{np.median(pp)/np.median(pt):.3f})")
print(f"conv node median {np.median(conv):.1f} us; sum of nodes per run (median run) {sum(conv+other)/runs/1e3:.3f} ms; "
      f"unprofiled network / convs per run = {np.median(pt)*1e6/nconv:.1f} us per conv")
