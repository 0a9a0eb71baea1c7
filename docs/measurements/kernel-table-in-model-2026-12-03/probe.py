"""Issue 14 probe: model whole vs its kernels alone, on random vs captured real arguments, hot vs
after their producer. One process, alternating rounds."""
import json, os, sys
os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
import numpy as np
import tvm
dev = tvm.cpu()
from tvm.runtime.vm import VirtualMachine
from kernel_table_accuracy import export_models
from lutnas.latency_tables.kernel_table import compile_models, read_models
from lutnas.lowering.pipeline import resolve_build
from lutnas.profiler.kernel_timing import KernelJob, kernel_arguments

def main():
    names = sys.argv[1].split(",")
    out = Path("/tmp/k14")
    models = export_models(["resnet", "shufflenet", "mobilenet", "vgg", "vit", "mixer"], 2, [32, 64], out)
    build = resolve_build("x86")
    sel = [m for m in read_models([models[n][1] for n in names])]
    built = compile_models(sel, build.target, build.pipeline)
    
    def capture(vm, x):
        """Every kernel call in order: (function name, copies of its arguments)."""
        calls = []
        def instrument(func, name, before, ret, *args):
            if before and not name.startswith("vm.builtin"):
                calls.append((name, [tvm.runtime.tensor(a.numpy(), dev) if hasattr(a, "numpy") else a for a in args]))
            return 0
        vm.set_instrument(instrument)
        vm["main"](x)
        vm.set_instrument(None)
        return calls
    
    for m, (lib_path, mk) in zip(sel, built):
        lib = tvm.runtime.load_module(str(lib_path))
        vm = VirtualMachine(lib, dev)
        klib = tvm.runtime.load_module(str(lib_path.with_name(lib_path.stem + ".kernels.so")))
        x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(mk.input_shape).astype("float32"), dev)
        calls = capture(vm, x)
        calls = [(n, a) for n, a in calls if n in {k.name for k in mk.kernels}]
        by_name = {k.name: k for k in mk.kernels}
        rand = {k.name: kernel_arguments(KernelJob(k.signature, lib_path, k.name, tuple(p.shape for p in k.params),
                                                    tuple(p.dtype for p in k.params)), dev) for k in mk.kernels}
        print(f"{m.name}: {len(calls)} kernel calls ({mk.kernel_calls} listed)")
        def t(fn, args, number=20, repeat=5):
            return min(klib.time_evaluator(fn, dev, number=number, repeat=repeat)(*args).results) * 1e6
        for rnd in range(3):
            whole = min(vm.time_evaluator("main", dev, number=20, repeat=5)(x).results) * 1e6
            # hot, random args (today's table), per unique kernel x calls
            hot_rand = sum(c * t(k.name, rand[k.name]) for k, c in zip(mk.kernels, mk.calls))
            # hot, the call's own captured args
            hot_real = sum(t(n, a) for n, a in calls)
            # chained replay: every call in order, once, timed as a whole chain (no per-call timer)
            import time
            fns = [(klib.get_function(n), a) for n, a in calls]
            best = 1e9
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(20):
                    for f, a in fns: f(*a)
                best = min(best, (time.perf_counter() - t0) / 20 * 1e6)
            state = {"prev": []}
        def preproc(*_):
            for f, a in state["prev"]:
                f(*a)
        tvm.register_global_func("lutnas.k14.prev", preproc, override=True)
        ctx = {}
        for depth in (0, 1, 3):
            total = 0.0
            for i, (n, a) in enumerate(calls):
                state["prev"] = fns[max(0, i - depth):i]
                ev = klib.time_evaluator(n, dev, number=1, repeat=60, f_preproc="lutnas.k14.prev")
                total += float(np.median(ev(*a).results)) * 1e6
            ctx[depth] = total
        extra = "  ".join(f"after-{d} {v:8.1f} ({v/whole-1:+.0%})" for d, v in ctx.items())
        print(f"  round {rnd}: whole {whole:8.1f}  hot-random {hot_rand:8.1f} ({hot_rand/whole-1:+.0%})  "
                  f"hot-captured {hot_real:8.1f} ({hot_real/whole-1:+.0%})  replay-chain {best:8.1f} ({best/whole-1:+.0%})\n     {extra}")

if __name__ == '__main__':
    main()
