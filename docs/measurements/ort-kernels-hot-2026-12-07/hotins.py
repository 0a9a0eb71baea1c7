import re, subprocess, sys
data, lib, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3], 16), int(sys.argv[4], 16)
rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "sym", "-g", "none", "--dsos", lib.split("/")[-1]], capture_output=True, text=True).stdout
s = {}
for l in rep.splitlines():
    m = re.match(r"\s*([\d.]+)%\s+\[\.\]\s+0x([0-9a-f]+)", l)
    if m and lo <= int(m.group(2), 16) < hi: s[int(m.group(2), 16)] = float(m.group(1))
dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={lo:#x}", f"--stop-address={hi:#x}", lib], capture_output=True, text=True).stdout
tot = sum(s.values()); print(f"region {tot:.2f}%")
for l in dis.splitlines():
    m = re.match(r"\s*([0-9a-f]+):\s*(.*)", l)
    if m:
        a = int(m.group(1), 16); p = s.get(a, 0)
        print(f"{p/tot*100:5.1f} {a:x} {m.group(2)[:90]}")
