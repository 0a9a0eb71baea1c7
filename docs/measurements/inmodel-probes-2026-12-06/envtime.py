import os, sys, json
import numpy as np
from pathlib import Path
from lutnas.lowering import get_target
from lutnas.profiler.measurement import MeasureJob
from lutnas.profiler.runners import LocalRunner
import tvm
target = get_target("x86", num_cores=2, mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))
work = Path("/tmp/probe/env")
tvm_r, ort_r = LocalRunner(target, "tvm", 2), LocalRunner(target, "onnxruntime", 2)
out = {}
for so in sorted(work.glob("*.so")):
    job = {"key": so.stem, "input_shape": (1, 3, 224, 224), "target": target.name, "threads": 2, "repeats": 3, "min_repeat_ms": 30.0}
    jt = MeasureJob(runtime="tvm", library_path=so, **job); jo = MeasureJob(runtime="onnxruntime", onnx_path=so.with_suffix(".onnx"), **job)
    r = []
    for _ in range(int(sys.argv[1])):
        t = tvm_r.measure(jt).median_ms; o = ort_r.measure(jo).median_ms
        r.append((t, o))
    out[so.stem] = r
print(json.dumps({"env": sys.argv[2], "out": out}))
