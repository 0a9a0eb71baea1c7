"""One 1x1 conv (cin,cout,hw) built by lutnas-cpu with its register tile forced to each PXxFV given
(the first row: the rules' own choice), timed alone and hot, interleaved:

    .venv/bin/python tile_sweep.py 32,144,56 4x48 8x48 2x48
"""
import sys, numpy as np, torch, tvm
from pathlib import Path
import lutnas.lowering.rules.nhwc as nhwc
from lutnas.lowering import export_onnx
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import import_model
spec = get_target("x86", mcpu=system_cpu()); target = spec.tvm_target()
cin, cout, hw = map(int, sys.argv[1].split(","))
p = Path(f"/tmp/k{cin}_{cout}_{hw}.onnx")
if not p.exists():
    export_onnx(torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval(), (1, cin, hw, hw), p)
orig = nhwc.register_tile
def build(tile):
    nhwc.register_tile = (lambda *a, **k: tile) if tile else orig
    mod, _ = import_model(p, (1, cin, hw, hw))
    with target:
        low = cpu_pipeline(target)(mod)
    nhwc.register_tile = orig
    name, f = next((gv.name_hint, f) for gv, f in low.functions_items() if isinstance(f, tvm.tirx.PrimFunc) and "conv" in gv.name_hint)
    lib = tvm.tirx.build(tvm.IRModule({name: f}), target=target)
    shapes = [[int(d) for d in v.shape] for v in f.params]
    rng = np.random.default_rng(0)
    args = [tvm.runtime.tensor(rng.standard_normal(s).astype("float32") * 0.1) for s in shapes]
    return lib, name, args
tiles = [None] + [tuple(map(int, t.split("x"))) for t in sys.argv[2:]]
builds = [build(t) for t in tiles]
t = [[] for _ in builds]
for r in range(9):
    for k, (lib, name, args) in enumerate(builds):
        t[k].append(lib.time_evaluator(name, tvm.cpu(), number=50, repeat=1)(*args).mean * 1e6)
flop = 2 * cin * cout * hw * hw
for tile, ts in zip(tiles, t):
    m = np.median(np.array(ts) / np.array(t[0]))
    print(f"{str(tile or 'default'):10s} {np.median(ts):7.1f} us  x{m:.3f} vs default  {flop / np.median(ts) / 1e3:.1f} GFLOP/s")
import os
if os.environ.get("ASM"):
    for tile, (lib, name, args) in zip(tiles, builds):
        open(f"/tmp/asm_{cin}_{cout}_{hw}_{tile}.s".replace(" ", ""), "w").write(lib.inspect_source("asm"))
