import sys
from lutnas.latency_tables.kernel_table import open_kernel_table
for db in sys.argv[1:]:
    a = open_kernel_table(db); ea = a.estimates()
    row = next(iter(a.ks.models(a.id, role="model")))
    tot = 0
    for k, c in zip(row.kernels.kernels, row.kernels.calls):
        us = ea[k.signature] * 1e3 * c; tot += us
        s = k.summary()
        if "conv2d" in s and ("112x112" in s or "56x56" in s or "28x28" in s):
            print(f"  {us:8.1f} {s[:110]}")
    print(db, f"sum {tot:.1f} us")
