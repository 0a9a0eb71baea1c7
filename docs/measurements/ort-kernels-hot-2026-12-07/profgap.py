"""onnxruntime on a space's network, 1 thread: plain run, profiled run, and the profiled run's node
durations summed (per run). Where the profiled run's extra time sits: inside nodes or between them.
python profgap.py SPACE INDEX RUNS"""
import json, sys, tempfile, time
from pathlib import Path
from ortsessions import sessions
import numpy as np, onnxruntime as ort
from lutnas.lowering import export_onnx
from lutnas.spaces import get_space
space, index, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
path = export_onnx(sp.build(arch, 224).eval(), (1, 3, 224, 224), Path(tempfile.mkdtemp()) / "net.onnx")
x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype("float32")
plain, prof = sessions(path)
for _ in range(10): plain.run(None, {"x" if plain.get_inputs()[0].name == "x" else plain.get_inputs()[0].name: x})
name = plain.get_inputs()[0].name
pt, pp = [], []
for _ in range(runs):
    t0 = time.perf_counter(); plain.run(None, {name: x}); pt.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); prof.run(None, {name: x}); pp.append(time.perf_counter() - t0)
ev = json.load(open(prof.end_profiling()))
nodes = [e for e in ev if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
per_run = len(nodes) // runs
sums = [sum(e["dur"] for e in nodes[i * per_run:(i + 1) * per_run]) / 1e3 for i in range(runs)]
# wall span of each run's nodes: first node start to last node end
spans = [(nodes[(i + 1) * per_run - 1]["ts"] + nodes[(i + 1) * per_run - 1]["dur"] - nodes[i * per_run]["ts"]) / 1e3 for i in range(runs)]
P, Q = np.median(pt) * 1e3, np.median(pp) * 1e3
print(f"{space}#{index}: {per_run} nodes a run; plain {P:.3f} ms, profiled {Q:.3f} ms (x{Q/P:.3f}); "
      f"node durations summed {np.median(sums):.3f} ms (x{np.median(sums)/P:.3f} plain); first-to-last node span {np.median(spans):.3f} ms; "
      f"gaps between nodes {np.median(spans) - np.median(sums):.3f} ms ({(np.median(spans) - np.median(sums)) / per_run * 1e3:.1f} us a node)")
