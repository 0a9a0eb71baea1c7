import sys
import numpy as np
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.spaces import get_space
out = Path("/tmp/probe/nets"); out.mkdir(exist_ok=True)
for name, idx in (("proxyless", 0), ("ofa-mbv3", 2), ("fbnet", 1)):
    space = get_space(name); rng = np.random.default_rng(0)
    arch = [space.sample(rng) for _ in range(idx + 1)][-1]
    export_onnx(space.build(arch, 224), (1, 3, 224, 224), out / f"{name}{idx}.onnx")
