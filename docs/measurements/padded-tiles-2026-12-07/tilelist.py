import sys, numpy as np
from pathlib import Path
import lutnas.lowering.rules.nhwc as nhwc, lutnas.lowering.rules.head as head, lutnas.lowering.rules.banded as banded, lutnas.lowering.rules.matmul as mm
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.spaces import get_space
kind = sys.argv[1]
seen = {}
orig = nhwc.register_tile
def spy(shape, lanes, max_acc, stack_acc=None, pad=False, _who="?"):
    r = orig(shape, lanes, max_acc, stack_acc, pad)
    seen.setdefault((shape, lanes, max_acc, stack_acc, pad), r)
    return r
for m in (nhwc, head, banded, mm):
    m.register_tile = spy
kw = {"mcpu": "skylake-avx512"} if kind == "avx512" else ({} if kind == "arm64" else host_cpu_options())
res = int(sys.argv[2]) if len(sys.argv) > 2 else 224
for name in ("proxyless", "fbnet", "ofa-mbv3"):
    space = get_space(name); rng = np.random.default_rng(0)
    for i in range(3):
        arch = space.sample(rng)
        target = get_target("arm64" if kind == "arm64" else "x86", num_cores=1, **kw)
        path = export_onnx(space.build(arch, res).eval(), (1, 3, res, res), Path(f"/tmp/probe/work/l{name}{i}.onnx"))
        mod, _ = import_model(path, (1, 3, res, res))
        lower_relax(mod, target, "lutnas-cpu")
for (shape, lanes, acc, st, pad), (px, fv) in sorted(seen.items(), key=lambda kv: kv[0][0].pixels):
    v = fv // lanes
    if px < min(v, shape.pixels):
        print("PX<V", shape, lanes, acc, pad, (px, fv))
print(len(seen), "shapes")
import os
if os.environ.get("L2"):
    changed = 0
    for (shape, lanes, acc, st, pad), r in seen.items():
        with __import__("unittest.mock").mock.patch.object(nhwc, "L2_BYTES_PER_CYCLE", int(os.environ["L2"])):
            r2 = orig(shape, lanes, acc, st, pad)
        if r2 != r:
            changed += 1
            print("CHANGE", shape, lanes, acc, pad, r, "->", r2)
    print(changed, "changed")
