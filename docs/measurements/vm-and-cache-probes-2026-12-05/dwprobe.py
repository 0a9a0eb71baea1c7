"""A depthwise kxk stride s + ReLU6 + 1x1 network, compiled by lutnas-cpu; each kernel timed hot on the model's own tensors."""
import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np, torch, tvm
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import import_model, compile_lowered
from lutnas.profiler.board_hooks import Replay
exec(open("/tmp/s5/replay_gap.py").read().split("class K:")[1].join(["class K:", ""]).split("rep = Replay")[0]) if False else None
class K:
    def __init__(self, m): self.m = m
    def get_function(self, name):
        for sub in [self.m] + list(self.m.imports):
            try: return sub.get_function(name)
            except Exception: pass
        raise RuntimeError(name)
from lutnas.lowering.rules import nhwc
if os.environ.get("PX"):
    nhwc.fused_pixels = lambda *a: int(os.environ["PX"])
if os.environ.get("ROWS"):
    nhwc.DW_ROWS_PER_TILE = int(os.environ["ROWS"])
spec = get_target("x86", mcpu=system_cpu()); target = spec.tvm_target()
for cfg in sys.argv[1:]:
    c, h, k, s, o = (int(v) for v in cfg.split(","))
    net = torch.nn.Sequential(torch.nn.Conv2d(c, c, k, s, k // 2, groups=c), torch.nn.ReLU6(), torch.nn.Conv2d(c, o, 1)).eval()
    shape = (1, c, h, h)
    path = export_onnx(net, shape, Path(f"/tmp/s5/dw_{cfg.replace(',', '_')}.onnx"))
    mod, _ = import_model(path, shape)
    with target:
        lowered = cpu_pipeline(target)(mod)
    ex = compile_lowered(lowered, spec); so = f"/tmp/s5/dwp_{cfg.replace(',', '_')}.so"; ex.export_library(so)
    lib = tvm.runtime.load_module(so)
    x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
    rep = Replay(lib, K(lib), x)
    oh = (h + 2 * (k // 2) - k) // s + 1
    flop = 2 * oh * oh * c * (k * k + o)
    for name, fn, args in rep.calls:
        owner = next(m for m in [lib] + list(lib.imports) if m.implements_function(name))
        ts = [owner.time_evaluator(name, tvm.cpu(), number=50, repeat=1)(*args).mean for _ in range(7)]
        t = float(np.median(ts)) * 1e6
        print(f"{cfg:>18}  {name[:50]:50s} {t:8.1f} us  {flop/t/1e3:6.1f} GFLOP/s (if fused dw+pw)")
