"""Structural hash of the scheduled module of arch 0-2 of each space at 224 px (and 160 px), 1 and 2 cores."""
import sys, tvm, tvm_ffi
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.spaces import get_space
import numpy as np
import os
TGT = ("arm64",) if os.environ["T"] == "arm64" else ("x86",)
KW = {} if os.environ["T"] == "arm64" else {"mcpu": "skylake-avx512"}
out = []
for name in ("proxyless", "fbnet", "ofa-mbv3"):
    space = get_space(name)
    rng = np.random.default_rng(0)
    for i in range(2):
        arch = space.sample(rng)
        for res, cores in ((224, 1), (160, 2)):
            __import__("torch").manual_seed(0)
            shape = (1, 3, res, res)
            p = export_onnx(space.build(arch, res).eval(), shape, Path(f"/tmp/probe/h-{name}-{i}-{res}.onnx"))
            spec = get_target(*TGT, num_cores=cores, **KW)
            mod, _ = import_model(p, shape)
            out.append(f"{name} {i} {res} {cores} {tvm_ffi.structural_hash(lower_relax(mod, spec, 'lutnas-cpu'))}")
            print(out[-1], flush=True)
Path(sys.argv[1]).write_text("\n".join(out) + "\n")
