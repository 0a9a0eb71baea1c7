import sys, tempfile
from pathlib import Path
import tvm
from tvm import tirx
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.tvm_build import import_model
from lutnas.lowering.pipeline import fused_module
from lutnas.lowering.rules import apply_rules, default_cpu_rules
from lutnas.spaces import get_space, sample_archs
cores = int(sys.argv[1]) if len(sys.argv) > 1 else 1
arch = list(sample_archs("ofa-mbv3", 2, 0))[-1]
onnx = export_onnx(get_space("ofa-mbv3").build(arch, 224), (1, 3, 224, 224), Path(tempfile.mkdtemp()) / "n.onnx")
tgt = get_target("x86", num_cores=cores, **host_cpu_options()).tvm_target()
mod = fused_module(onnx, (1, 3, 224, 224), tgt)
for gv, f in mod.functions_items():
    if isinstance(f, tirx.PrimFunc) and ("matmul" in gv.name_hint or "mean" in gv.name_hint and "conv" in gv.name_hint):
        sch, name = apply_rules(f, tgt, default_cpu_rules())
        print(gv.name_hint, "->", name)
txt = mod["main"].script().splitlines()
idx = [i for i, l in enumerate(txt) if "matmul" in l]
for l in txt[max(0, idx[0]-8):idx[-1]+3]:
    print(l[:230])
