"""Per-loop sample shares of one kernel from a perf.data of a network loop.
python loops.py PERF_DATA LIB SYMBOL_SUBSTRING"""
import bisect, re, subprocess, sys
data, lib, sub = sys.argv[1:4]
rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "sym", "-g", "none", "--dsos", lib.split("/")[-1]],
                     capture_output=True, text=True).stdout
syms = []
for l in subprocess.run(["nm", lib], capture_output=True, text=True).stdout.splitlines():
    f = l.split()
    if len(f) == 3 and f[1] in "tT": syms.append((int(f[0], 16), f[2]))
syms.sort(); addrs = [a for a, _ in syms]
start = next(a for a, n in syms if sub in n and n.endswith("compute_"))
end = addrs[bisect.bisect_right(addrs, start)]
samples, total = {}, 0.0
for l in rep.splitlines():
    m = re.match(r"\s*([\d.]+)%\s+\[\.\]\s+(\S+)", l)
    if not m: continue
    p, s = float(m.group(1)), m.group(2)
    total += p
    if s.startswith("0x"):
        a = int(s, 16)
        if start <= a < end: samples[a] = samples.get(a, 0) + p
dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={start:#x}", f"--stop-address={end:#x}", lib],
                     capture_output=True, text=True).stdout
ins = []
for l in dis.splitlines():
    m = re.match(r"\s*([0-9a-f]+):\s*(.*)", l)
    if m: ins.append((int(m.group(1), 16), m.group(2)))
kt = sum(samples.values())
print(f"{sub}: {kt:.2f}% of the library's samples ({kt / total * 100:.1f}% of the report), {len(ins)} instructions")
for a, i in ins:
    m = re.match(r"(j\w+)\s+([0-9a-f]+)", i)
    if m and int(m.group(2), 16) < a:
        lo = int(m.group(2), 16)
        body = [(aa, ii) for aa, ii in ins if lo <= aa <= a]
        s = sum(samples.get(aa, 0) for aa, _ in body)
        if s / kt > 0.02:
            kinds = {}
            for _, ii in body:
                op = ii.split()[0]; kinds[op] = kinds.get(op, 0) + 1
            top = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda x: -x[1])[:8])
            print(f"  loop {lo:x}-{a:x}: {s / kt * 100:5.1f}% of the kernel, {len(body)} instr: {top}")
