import time, numpy as np
from unittest.mock import patch
import lutnas.lowering.dw_pw_fusion as fusion
from lutnas.lowering import build, export_onnx, get_target
from lutnas.lowering.targets import system_cpu
from lutnas.spaces import get_space
t = get_target("x86", mcpu=system_cpu(), num_cores=1)
sp = get_space("proxyless"); arch = sp.sample(np.random.default_rng(0))
onnx = export_onnx(sp.build(arch, 224), (1, 3, 224, 224), "/tmp/probe/ct.onnx")
for r in range(2):
    for on in (False, True):
        with patch.object(fusion, "EXPAND_INTO_BANDS", on):
            t0 = time.time(); build(onnx, (1, 3, 224, 224), t, pipeline="lutnas-cpu", tuning_db=None); print(on, round(time.time() - t0, 1), flush=True)
