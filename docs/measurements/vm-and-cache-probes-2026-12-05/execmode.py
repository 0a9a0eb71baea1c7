"""Relax VM bytecode vs compiled (VMTIRCodeGen) exec mode, same lowered module, interleaved rounds."""
import os, sys, tempfile
from pathlib import Path
threads = sys.argv[1] if len(sys.argv) > 1 else "1"
os.environ["TVM_NUM_THREADS"] = threads
import numpy as np, tvm
from tvm import relax
from unittest.mock import patch
import tvm.relax.vm_build as vb
from lutnas.lowering import export_onnx
from lutnas.lowering.codegen import compile_relax
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import import_model
from lutnas.spaces import get_space

spec = get_target("x86", mcpu=system_cpu()); target = spec.tvm_target()
res = int(sys.argv[2]) if len(sys.argv) > 2 else 224
per = int(sys.argv[3]) if len(sys.argv) > 3 else 1
shape = (1, 3, res, res)
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
orig = vb._vmcodegen
nets = []
with tempfile.TemporaryDirectory() as work:
    for name in ("proxyless", "fbnet", "ofa-mbv3"):
        space, rng = get_space(name), np.random.default_rng(0)
        for i in range(per):
            arch = space.sample(rng)
            path = export_onnx(space.build(arch, res).eval(), shape, Path(work) / f"{name}{i}.onnx")
            mod, _ = import_model(path, shape)
            with target:
                lowered = cpu_pipeline(target)(mod)
            vms = []
            for mode in ("bytecode", "compiled"):
                ex = relax.build(lowered, target, relax_pipeline=tvm.transform.Sequential([]), exec_mode=mode)
                vms.append(relax.VirtualMachine(ex, tvm.cpu()))
            a, b = vms[0]["main"](x).numpy(), vms[1]["main"](x).numpy()
            print(name, i, "max diff", float(np.abs(a - b).max()), flush=True)
            nets.append((f"{name}#{i}", vms))
times = {n: [[], []] for n, _ in nets}
for r in range(int(__import__("os").environ.get("ROUNDS", "9"))):
    for n, vms in nets:
        for k, vm in enumerate(vms):
            vm["main"](x)
            times[n][k].append(vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean * 1e3)
rs = []
for n, (a, b) in times.items():
    a, b = np.array(a), np.array(b); r = float(np.median(b / a)); rs.append(r)
    print(f"{n:12s} bytecode {np.median(a):.3f} ms compiled {np.median(b):.3f} ms x{r:.3f}")
print(f"geomean compiled/bytecode x{np.exp(np.mean(np.log(rs))):.3f}")
