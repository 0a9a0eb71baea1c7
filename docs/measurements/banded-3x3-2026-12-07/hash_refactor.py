import sys, tempfile
from pathlib import Path
import tvm_ffi
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.spaces import get_space, sample_archs
for space, idx, cores in [("ofa-mbv3", 1, 1), ("ofa-mbv3", 0, 2), ("fbnet", 2, 1), ("proxyless", 0, 2)]:
    import torch; torch.manual_seed(0)
    arch = list(sample_archs(space, idx + 1, 0))[-1]
    onnx = export_onnx(get_space(space).build(arch, 224), (1, 3, 224, 224), Path(tempfile.mkdtemp()) / "n.onnx")
    mod, _ = import_model(onnx, (1, 3, 224, 224))
    low = lower_relax(mod, get_target("x86", mcpu="znver3", num_cores=cores), "lutnas-cpu")
    print(space, idx, cores, tvm_ffi.structural_hash(low))
