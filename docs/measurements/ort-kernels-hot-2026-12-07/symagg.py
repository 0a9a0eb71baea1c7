import bisect, re, subprocess, sys
data, lib = sys.argv[1:3]
rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "-g", "none"], capture_output=True, text=True).stdout
syms = []
for l in subprocess.run(["nm", lib], capture_output=True, text=True).stdout.splitlines():
    f = l.split()
    if len(f) == 3 and f[1] in "tT": syms.append((int(f[0], 16), f[2]))
syms.sort(); addrs = [a for a, _ in syms]
agg = {}
for l in rep.splitlines():
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[\.\]\s+(\S+)", l)
    if not m: continue
    p, dso, s = float(m.group(1)), m.group(2), m.group(3)
    if s.startswith("0x") and dso.endswith(".so") and "tvm" not in dso and "python" not in dso:
        i = bisect.bisect_right(addrs, int(s, 16)) - 1
        name = syms[i][1] if i >= 0 else s
    else:
        name = s if not s.startswith("0x") else dso
    agg[name] = agg.get(name, 0) + p
for n, p in sorted(agg.items(), key=lambda t: -t[1])[:int(sys.argv[3]) if len(sys.argv) > 3 else 30]:
    print(f"{p:6.2f}%  {n}")
