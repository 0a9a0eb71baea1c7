"""Kernels timed inside their model's loop: the model's own buffers (captured by reference), and before each
timed call the rest of the model's calls in cyclic order (untimed), so each call meets the cache state it
meets when the model runs back to back."""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np
import tvm
from tvm.runtime.vm import VirtualMachine
from kernel_table_accuracy import export_models
from lutnas.latency_tables.kernel_table import compile_models, read_models
from lutnas.lowering.pipeline import resolve_build
dev = tvm.cpu()

def capture(vm, x, kernel_names):
    calls = []
    def instrument(func, name, before, ret, *args):
        if before and name in kernel_names:
            calls.append((name, list(args)))
        return 0
    vm.set_instrument(instrument)
    vm["main"](x)
    vm.set_instrument(None)
    return calls

def main():
    names = sys.argv[1].split(",")
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    models = export_models(["resnet", "shufflenet", "mobilenet", "vgg", "vit", "mixer"], 2, [32, 64], Path("/tmp/k14"))
    build = resolve_build("x86")
    sel = read_models([models[n][1] for n in names])
    for m, (lib_path, mk) in zip(sel, compile_models(sel, build.target, build.pipeline)):
        vm = VirtualMachine(tvm.runtime.load_module(str(lib_path)), dev)
        klib = tvm.runtime.load_module(str(lib_path.with_name(lib_path.stem + ".kernels.so")))
        x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(mk.input_shape).astype("float32"), dev)
        calls = capture(vm, x, {k.name for k in mk.kernels})
        fns = [(klib.get_function(n), a) for n, a in calls]
        state = {"rest": []}
        def preproc(*_):
            for f, a in state["rest"]:
                f(*a)
        tvm.register_global_func("lutnas.k14.rest", preproc, override=True)
        for rnd in range(3):
            t0 = time.perf_counter()
            whole = min(vm.time_evaluator("main", dev, number=20, repeat=5)(x).results) * 1e6
            in_loop, hot = 0.0, 0.0
            for i, (n, a) in enumerate(calls):
                state["rest"] = fns[i + 1:] + fns[:i]
                ev = klib.time_evaluator(n, dev, number=1, repeat=repeat, f_preproc="lutnas.k14.rest")
                in_loop += float(np.median(ev(*a).results)) * 1e6
                hot += min(klib.time_evaluator(n, dev, number=20, repeat=3)(*a).results) * 1e6
            print(f"{m.name:16s} round {rnd}: whole {whole:8.1f}  hot-own-buffers {hot:8.1f} ({hot/whole-1:+.1%})  "
                  f"in-loop {in_loop:8.1f} ({in_loop/whole-1:+.1%})  [{len(calls)} calls, {time.perf_counter()-t0:.1f} s]")

if __name__ == "__main__":
    main()
