"""The VM's main against the same kernel calls replayed back to back from Python (the VM's own
tensors, in its order), alternating, 1 thread. python replaychain.py SPACE INDICES ROUNDS"""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = "1"
from pathlib import Path
import numpy as np, tvm
from tvm.runtime.vm import VirtualMachine
from lutnas.lowering import export_onnx
from lutnas.lowering.kernels import export_with_kernels, kernel_library_path
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.profiler.board_hooks import Replay
from lutnas.spaces import get_space
space, indices, rounds = sys.argv[1], [int(i) for i in sys.argv[2].split(",")], int(sys.argv[3])
t = get_target("x86", num_cores=1, **host_cpu_options())
sp = get_space(space); rng = np.random.default_rng(0)
archs = [sp.sample(rng) for _ in range(max(indices) + 1)]
shape = (1, 3, 224, 224)
for i in indices:
    work = Path(f"/tmp/probe/work/rep-{space}{i}"); work.mkdir(parents=True, exist_ok=True)
    p = export_onnx(sp.build(archs[i], 224).eval(), shape, work / "m.onnx")
    mod, name = import_model(p, shape)
    export_with_kernels(lower_relax(mod, t, "lutnas-cpu"), name, shape, t, work / "net.so", "lutnas-cpu")
    model_lib = tvm.runtime.load_module(str(work / "net.so"))
    kernel_lib = tvm.runtime.load_module(str(kernel_library_path(work / "net.so")))
    dev = tvm.cpu()
    x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), dev)
    rep = Replay(model_lib, kernel_lib, x)
    calls = [(fn, args) for _, fn, args in rep.calls]
    vm = VirtualMachine(model_lib, dev)
    main = vm["main"]
    def chain():
        for fn, args in calls:
            fn(*args)
    fns = {"vm": lambda: main(x), "chain": chain}
    for f in fns.values():
        for _ in range(5): f()
    res = {k: [] for k in fns}
    for r in range(rounds):
        for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            ts = []
            for _ in range(5):
                s = time.perf_counter(); fns[k](); ts.append(time.perf_counter() - s)
            res[k].append(np.median(ts) * 1e3)
    ratio = np.array(res["vm"]) / np.array(res["chain"])
    print(f"{space}#{i}: {len(calls)} kernel calls; vm {np.median(res['vm']):.3f} ms, chain {np.median(res['chain']):.3f} ms; "
          f"vm/chain x{np.median(ratio):.3f} (IQR {np.percentile(ratio, 25):.3f}-{np.percentile(ratio, 75):.3f})", flush=True)
