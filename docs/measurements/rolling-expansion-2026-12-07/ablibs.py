"""Two builds' libraries against each other and onnxruntime, interleaved sample by sample as the bench does.
build OUT RES THREADS: the bench's networks (3 per space, seed 0) built with the lutnas on PYTHONPATH into OUT.
time A B RES THREADS ROUNDS: each network's onnxruntime, A and B libraries in one interleaved measurement."""
import os, sys
mode = sys.argv[1]
res, threads = int(sys.argv[3] if mode == "build" else sys.argv[4]), int(sys.argv[4] if mode == "build" else sys.argv[5])
os.environ["TVM_NUM_THREADS"] = str(threads)
from pathlib import Path
import numpy as np
from lutnas.lowering import build, export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.spaces import get_space
target = get_target("x86", num_cores=threads, **host_cpu_options())
names = [f"{s}-{i}" for s in ("proxyless", "fbnet", "ofa-mbv3") for i in range(3)]
if mode == "build":
    out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
    from contextlib import ExitStack
    variant = os.environ.get("VARIANT")   # py:PATH:FN, a context manager patching the rules
    if variant:
        import importlib
        path, fn = variant[3:].rsplit(":", 1); sys.path.insert(0, os.path.dirname(path))
        ExitStack().enter_context(getattr(importlib.import_module(os.path.basename(path)[:-3]), fn)())
    for s in ("proxyless", "fbnet", "ofa-mbv3"):
        sp = get_space(s); rng = np.random.default_rng(0)
        for i in range(3):
            arch = sp.sample(rng); shape = (1, 3, res, res)
            onnx = export_onnx(sp.build(arch, res), shape, out / f"{s}-{i}.onnx")
            build(onnx, shape, target, pipeline="lutnas-cpu").export_library(out / f"{s}-{i}.so")
            print("built", s, i, flush=True)
else:
    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.rounds import measure_interleaved
    from lutnas.profiler.runners import LocalRunner, LocalRuntimes
    a, b, rounds = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[6])
    runner = LocalRuntimes([LocalRunner(target, rt, threads) for rt in ("tvm", "onnxruntime")])
    ratios, va, vb = [], [], []
    for n in names:
        job = {"input_shape": (1, 3, res, res), "target": target.name, "threads": threads, "repeats": 3, "min_repeat_ms": 30.0}
        jobs = [MeasureJob(key=f"{n}-ort", runtime="onnxruntime", onnx_path=a / f"{n}.onnx", **job),
                MeasureJob(key=f"{n}-a", runtime="tvm", library_path=a / f"{n}.so", **job),
                MeasureJob(key=f"{n}-b", runtime="tvm", library_path=b / f"{n}.so", **job)]
        ort, ta, tb = (np.array(p.samples_ms) for p in measure_interleaved(runner, jobs, rounds))
        r = float(np.median(tb / ta)); ratios.append(r)
        va.append(float(np.median(ta / ort))); vb.append(float(np.median(tb / ort)))
        print(f"{n:12s} B/A x{r:.3f}  A/ort {va[-1]:.3f}  B/ort {vb[-1]:.3f}  (ort x{ort.max()/ort.min():.2f} max/min)", flush=True)
    g = lambda x: float(np.exp(np.mean(np.log(x))))
    print(f"geomean B/A x{g(ratios):.3f}  A/ort {g(va):.3f}  B/ort {g(vb):.3f}")
