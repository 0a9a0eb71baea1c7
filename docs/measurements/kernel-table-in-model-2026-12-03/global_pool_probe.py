import os
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np, tvm, torch
from torch import nn
from tvm.runtime.vm import VirtualMachine
from lutnas.lowering import export_onnx
from lutnas.lowering import layout
from lutnas.lowering.pipeline import resolve_build
from lutnas.lowering.tvm_build import import_model, lower_relax, compile_lowered
class M(nn.Module):
    def forward(self, x):
        return nn.functional.avg_pool2d(x, x.shape[-1])
b = resolve_build("x86")
res = {}
for shape in [(1, 32, 32, 32), (1, 1024, 7, 7), (1, 232, 14, 14)]:
    export_onnx(M().eval(), shape, "/tmp/k14/pool.onnx")
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    ref = torch.nn.functional.avg_pool2d(torch.from_numpy(x), shape[-1]).numpy()
    for variant in ("pool", "mean"):
        orig = layout.global_pools_as_means
        if variant == "pool":
            layout.global_pools_as_means = lambda: tvm.transform.Sequential([])
        mod, _ = import_model("/tmp/k14/pool.onnx", shape)
        low = lower_relax(mod, b.target, b.pipeline)
        layout.global_pools_as_means = orig
        names = [gv.name_hint for gv, f in low.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
        vm = VirtualMachine(compile_lowered(low, b.target), tvm.cpu())
        xt = tvm.runtime.tensor(x, tvm.cpu())
        out = vm["main"](xt).numpy()
        err = float(np.abs(out.reshape(ref.shape) - ref).max())
        t = [min(vm.time_evaluator("main", tvm.cpu(), number=200, repeat=5)(xt).results) * 1e6 for _ in range(3)]
        print(shape, variant, names, f"{min(t):.2f} us, max err {err:.1e}")
