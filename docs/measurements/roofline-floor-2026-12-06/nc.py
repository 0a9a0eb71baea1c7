import numpy as np, hashlib
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.spaces import get_space
sp = get_space("ofa-mbv3"); arch = sp.sample(np.random.default_rng(0))
path = export_onnx(sp.build(arch, 224), (1, 3, 224, 224), "/tmp/probe/nc.onnx")
for nc in (None, 2, 1):
    t = get_target("x86", mcpu=system_cpu(), num_cores=nc)
    mod, _ = import_model(path, (1, 3, 224, 224))
    low = lower_relax(mod, t, "lutnas-cpu")
    src = compile_lowered(low, t).mod.imports[0].inspect_source("asm")
    print(nc, t.canonical_json(), hashlib.sha256(src.encode()).hexdigest()[:12], len(src))
