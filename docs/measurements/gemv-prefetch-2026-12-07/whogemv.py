import sys, numpy as np, torch
from pathlib import Path
from unittest.mock import patch
import lutnas.lowering.rules.elementwise as el
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.spaces import get_space
orig = el._axpy_gemv
def spy(sch, red, out, reduce_, inner, lanes):
    w = None
    r = orig(sch, red, out, reduce_, inner, lanes)
    st = sch.get(red); print("axpy_gemv:", [tuple(int(d) for d in r.source.shape) for r in st.reads], "prefetch" if el._weight_rows(sch, sch.get_child_blocks(sch.get_sblock("root"))[0]) is not None else "")
    return r
for name in sys.argv[2].split(","):
    sp = get_space(name); rng = np.random.default_rng(0); arch = sp.sample(rng)
    p = export_onnx(sp.build(arch, 224).eval(), (1, 3, 224, 224), Path(f"/tmp/probe/w-{name}.onnx"))
    spec = get_target("x86", num_cores=int(sys.argv[1]), **host_cpu_options())
    with patch.object(el, "_axpy_gemv", spy):
        print(name)
        lower_relax(import_model(p, (1, 3, 224, 224))[0], spec, "lutnas-cpu")
