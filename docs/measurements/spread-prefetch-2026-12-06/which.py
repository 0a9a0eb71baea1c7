"""Which 1x1s of the 9 headline networks (seed 0, 224 px, 1-thread build) prefetch weight strips, as
(depth, channels per strip, pixel tiles, strips, strip bytes), those a spread would change:
`python which.py ofa-mbv3,proxyless,fbnet`."""
import sys, numpy as np
from unittest.mock import patch
import lutnas.lowering.rules.nhwc as nhwc
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.spaces import get_space
from pathlib import Path
spec = get_target("x86", num_cores=1, **host_cpu_options())
orig = nhwc.prefetch_next_strip
log = []
def spy(sch, conv, rc_loop, outer, pt, strips, fv):
    rc = int(sch.get(rc_loop).extent)
    log.append((rc, fv, pt, strips, rc * fv * 4))
    return orig(sch, conv, rc_loop, outer, pt, strips, fv)
for name in sys.argv[1].split(","):
    space, rng = get_space(name), np.random.default_rng(0)
    for i in range(3):
        arch = space.sample(rng)
        p = export_onnx(space.build(arch, 224).eval(), (1, 3, 224, 224), Path(f"/tmp/probe/work/{name}{i}.onnx"))
        mod, _ = import_model(p, (1, 3, 224, 224))
        log.clear()
        with patch.object(nhwc, "prefetch_next_strip", spy):
            lower_relax(mod, spec, "lutnas-cpu")
        print(name, i, [l for l in log if l[2] > 1 and l[3] > 1 and l[4] > 24576])
