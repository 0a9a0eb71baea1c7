"""bytecode vs compiled through lutnas.lowering.codegen.compile_relax (split LLVM codegen), interleaved."""
import os, sys, tempfile, time
threads = sys.argv[1] if len(sys.argv) > 1 else "1"
os.environ["TVM_NUM_THREADS"] = threads
import numpy as np, tvm
from tvm import relax
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.codegen import compile_relax
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import import_model
from lutnas.spaces import get_space
spec = get_target("x86", mcpu=system_cpu()); target = spec.tvm_target()
res = int(sys.argv[2]); per = int(sys.argv[3]); modes = sys.argv[4].split(",")
shape = (1, 3, res, res)
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
nets = []
work = tempfile.mkdtemp()
for name in ("proxyless", "fbnet", "ofa-mbv3"):
    space, rng = get_space(name), np.random.default_rng(0)
    for i in range(per):
        arch = space.sample(rng)
        path = export_onnx(space.build(arch, res).eval(), shape, Path(work) / f"{name}{i}.onnx")
        mod, _ = import_model(path, shape)
        with target:
            lowered = cpu_pipeline(target)(mod)
        vms = []
        for mode in modes:
            m, jobs = mode.split(":")
            t0 = time.time()
            ex = compile_relax(lowered, target, tvm.transform.Sequential([]), jobs=int(jobs), exec_mode=m)
            so = f"{work}/{name}{i}-{m}-{jobs}.so"; ex.export_library(so); t1 = time.time() - t0
            vms.append(relax.VirtualMachine(tvm.runtime.load_module(so), tvm.cpu()))
            print(f"{name}#{i} {mode}: compile+export {t1:.1f}s", flush=True)
        outs = [vm["main"](x).numpy() for vm in vms]
        print(name, i, "max diff", max(float(np.abs(o - outs[0]).max()) for o in outs), flush=True)
        nets.append((f"{name}#{i}", vms))
times = {n: [[] for _ in modes] for n, _ in nets}
for r in range(int(os.environ.get("ROUNDS", "9"))):
    for n, vms in nets:
        for k, vm in enumerate(vms):
            vm["main"](x)
            times[n][k].append(vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean * 1e3)
geo = {m: [] for m in modes[1:]}
for n, ts in times.items():
    base = np.array(ts[0]); line = f"{n:12s} {modes[0]} {np.median(base):.3f} ms"
    for m, t in zip(modes[1:], ts[1:]):
        r = float(np.median(np.array(t) / base)); geo[m].append(r); line += f"  {m} x{r:.3f}"
    print(line)
for m, v in geo.items():
    print(f"geomean {m} / {modes[0]}: x{np.exp(np.mean(np.log(v))):.3f}")
