import csv, sys
a, b = sys.argv[1], sys.argv[2]
h = {r["signature"]: r for r in csv.DictReader(open(a))}
m = {r["signature"]: r for r in csv.DictReader(open(b))}
rows = []
for s, r in h.items():
    n = int(r["calls_in_models"]); x = float(r["estimate_ms"])*1e3; y = float(m[s]["estimate_ms"])*1e3
    rows.append((n*(y-x), n, x, y, r["name"][:58], r["inputs"].split()[0], r["output"]))
rows.sort(reverse=True)
th = sum(r[1]*r[2] for r in rows); tm = sum(r[1]*r[3] for r in rows)
print(f"hot {th:.0f} us, in-model {tm:.0f} us, x{tm/th:.3f}")
for r in rows[:int(sys.argv[3]) if len(sys.argv) > 3 else 20]:
    print(f"{r[0]:7.1f} us  n={r[1]} hot {r[2]:7.1f} model {r[3]:7.1f} x{r[3]/r[2]:.2f} {r[5]:>16} -> {r[6]:<14} {r[4]}")
