import sys, numpy as np
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.spaces import get_space
name, idx, res = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
space, rng = get_space(name), np.random.default_rng(0)
for i in range(idx + 1):
    arch = space.sample(rng)
print(export_onnx(space.build(arch, res).eval(), (1, 3, res, res), Path(f"/tmp/s5/{name}{idx}-r{res}.onnx")))
