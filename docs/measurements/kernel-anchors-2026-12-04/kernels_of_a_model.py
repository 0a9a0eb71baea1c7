import sys
import numpy as np
from lutnas.latency_tables.kernel_table import open_kernel_table
from lutnas.profiler.stability import verdict
t = open_kernel_table(sys.argv[1] + "/kernels.db")
est = t.estimates(); ctx = t.context()
for row in t.ks.models(t.id, role="model"):
    if row.name not in sys.argv[2:]: continue
    whole = verdict(t.model_passes[(row.id, "model")], t.policy).median_ms
    print(row.name, f"whole {whole:.4f}", f"kernels {sum(c*est[k.signature] for k,c in zip(row.kernels.kernels,row.kernels.calls)):.4f}")
    for k, c in sorted(zip(row.kernels.kernels, row.kernels.calls), key=lambda kc: -kc[1]*est[kc[0].signature]):
        ps = [float(np.median(p.samples_ms)) * 1e3 for p in t.passes[k.signature]]
        v = verdict(t.passes[k.signature], t.policy)
        print(f"   x{c} est {est[k.signature]*1e3:7.2f} us  passes {' '.join(f'{x:7.2f}' for x in ps)}  {'STABLE' if v.stable else 'unstable'}  {k.summary()[:70]}")
