"""Per-kernel estimates of three runs of bench/kernel_table_accuracy.py (2026-12-03: /tmp/kt2 on N(0, 1)
arguments, /tmp/kt3 and /tmp/kt4 on network-scale arguments, models interleaved in kt4): how far the
same kernels moved between runs. Printed: hot kt4/kt3 median 1.018, p10-p90 0.711-1.382; flush
1.077, 0.921-1.532."""
import numpy as np
from lutnas.latency_tables.kernel_table import KernelTable
from lutnas.latency_tables.store import Store
from lutnas.latency_tables.kernel_store import KernelStore
def est(root):
    ks = KernelStore(Store(f"{root}/kernels.db", create=False))
    out = {}
    for tid in ks.table_ids():
        t = KernelTable(ks, tid); out[t.meta.options.get("cache_mode")] = t.estimates()
    return out
a, b, c = est("/tmp/kt2"), est("/tmp/kt3"), est("/tmp/kt4")
for mode in ("hot", "flush"):
    r34 = np.array([c[mode][k] / b[mode][k] for k in b[mode] if k in c[mode]])
    r24 = np.array([c[mode][k] / a[mode][k] for k in a[mode] if k in c[mode]])
    print(mode, "kt4/kt3 median", round(float(np.median(r34)), 3), "p10-p90", np.round(np.percentile(r34, [10, 90]), 3),
          "| kt4/kt2 median", round(float(np.median(r24)), 3))
