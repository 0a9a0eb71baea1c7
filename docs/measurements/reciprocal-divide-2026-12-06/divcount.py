"""Divisions left in ofa-mbv3#2's lowered kernels (seed 0, 224 px, lutnas-cpu for 1 core), with and
without `fast_math.RECIPROCAL_DIVIDE`: the count of ' / ' in the TIR of each PrimFunc.
python divcount.py"""
import numpy as np, tvm, re
from unittest.mock import patch
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.spaces import get_space
import lutnas.lowering.fast_math as fm
sp = get_space("ofa-mbv3"); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(3)][-1]
p = export_onnx(sp.build(arch, 224).eval(), (1, 3, 224, 224), "/tmp/probe/ofa2.onnx")
for on in (False, True):
    with patch.object(fm, "RECIPROCAL_DIVIDE", on):
        mod, _ = import_model(p, (1, 3, 224, 224))
        low = lower_relax(mod, get_target("x86", num_cores=1, **host_cpu_options()), "lutnas-cpu")
    divs = {}
    for gv, f in low.functions_items():
        if isinstance(f, tvm.tirx.PrimFunc):
            n = len(re.findall(r" / ", f.script()))
            if n: divs[gv.name_hint] = n
    print(on, sum(divs.values()), list(divs.items())[:6])
