import json, sys
from pathlib import Path
import numpy as np
from lutnas.latency_tables.kernel_table import open_kernel_table
from lutnas.latency_tables.kernel_model import learning_kind, work_terms
run = Path(sys.argv[1])
models = {p.stem: (p.stem.split("-")[0].rstrip("0123456789"), p) for p in (run / "onnx").glob("*.onnx")}
table = open_kernel_table(run / "kernels.db", None, "linear", "probes", True)
view = table.restricted([n for n, (f, _) in models.items() if f in ("resnet", "shufflenet", "vit")], True)
reg = view.regressor()
est = view.estimates()
vb = view.vector_bits()
for kind in ("depthwise-pointwise", "depthwise", "conv"):
    m = reg.models.get(kind)
    if m is None: continue
    print(kind, m.samples, "coef [1, main, bytes, elems, weights, transc, other]:", np.array2string(m.coef, precision=3))
    if kind == "depthwise-pointwise":
        for sig, t in est.items():
            info = view.infos[sig]
            if learning_kind(info) == kind:
                terms = work_terms(info, vb)
                print(f"   {t*1e3:8.2f} us  pred {float(terms @ m.coef)*1e3:8.2f}  terms {np.array2string(terms, precision=0, suppress_small=True, max_line_width=200)}  {info.summary()[:70]}")
