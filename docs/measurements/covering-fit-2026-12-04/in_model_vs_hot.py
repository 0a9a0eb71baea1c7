import sys
from lutnas.latency_tables.kernel_table import open_kernel_table
a = open_kernel_table(sys.argv[1]); b = open_kernel_table(sys.argv[2])
ea, eb = a.estimates(), b.estimates()
row = next(iter(a.ks.models(a.id, role="model")))
tot_a = tot_b = 0
lines = []
for k, c in zip(row.kernels.kernels, row.kernels.calls):
    x, y = ea[k.signature]*1e3*c, eb[k.signature]*1e3*c
    tot_a += x; tot_b += y
    lines.append((x - y, x, y, k.summary()[:80]))
for d, x, y, s in sorted(lines, reverse=True)[:25]:
    print(f"{x:8.1f} {y:8.1f} {d:+7.1f}  {s}")
print(f"sum in-model {tot_a:.1f} us  hot {tot_b:.1f} us")
