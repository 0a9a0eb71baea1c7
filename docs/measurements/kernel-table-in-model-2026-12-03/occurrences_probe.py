import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np, tvm
from kernel_table_accuracy import export_models
from lutnas.latency_tables.kernel_table import compile_models, read_models
from lutnas.lowering.pipeline import resolve_build
from lutnas.lowering.kernels import kernel_library_path
from lutnas.profiler import kernel_timing as kt
from lutnas.profiler.measurement import MeasureJob
def main():
    name = sys.argv[1]
    models = export_models(["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer"], 1, [160], Path("/tmp/k14/run6"))
    (m,) = read_models([models[name][1]])
    build = resolve_build("x86")
    ((lib_path, mk),) = compile_models([m], build.target, build.pipeline)
    dev = tvm.cpu()
    model_lib = tvm.runtime.load_module(str(lib_path)); klib = tvm.runtime.load_module(str(kernel_library_path(lib_path)))
    job = MeasureJob(m.key, m.input_shape, library_path=lib_path, target="x86")
    rep = kt.ModelReplay.capture(model_lib, klib, dev, job)
    rest_after = lambda i: [(fn, a) for _, fn, a in rep.calls[i + 1:] + rep.calls[:i]]
    vm = tvm.runtime.vm.VirtualMachine(model_lib, dev)
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(m.input_shape).astype("float32"), dev)
    whole = np.median(vm.time_evaluator("main", dev, number=3, repeat=5)(x).results) * 1e3
    total_first, total_all = 0.0, 0.0
    by = {}
    for i, (n, fn, args) in enumerate(rep.calls):
        by.setdefault(n, []).append(i)
    for n, idx in by.items():
        ts = []
        for i in idx:
            kt._REST[:] = rest_after(i)
            rep.selected = i
            ts.append(float(np.median(rep.time(7))))
        kt._REST.clear()
        total_first += ts[0] * len(idx); total_all += sum(ts)
        if len(idx) > 1 and (max(ts) / min(ts) > 1.1):
            print(f"  {n[:60]:60s} {len(idx)} calls: " + " ".join(f"{t*1e3:.0f}" for t in ts) + " us")
    print(f"{name}: whole {whole:.3f} ms, first-call x calls {total_first:.3f} ({total_first/whole-1:+.1%}), every call {total_all:.3f} ({total_all/whole-1:+.1%})")
if __name__ == "__main__":
    main()
