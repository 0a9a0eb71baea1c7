import bisect, collections, subprocess, sys, re
data, so, fn = sys.argv[1], sys.argv[2], sys.argv[3]
mm = subprocess.run(["perf","script","-i",data,"--show-mmap-events"],capture_output=True,text=True).stdout
m = [l for l in mm.splitlines() if "MMAP" in l and so in l and "r-xp" in l][0]
base, pgoff = re.search(r"\[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+)", m).group(1,3)
base, pgoff = int(base,16), int(pgoff,16)
syms=sorted((int(l.split()[0],16), l.split()[2]) for l in subprocess.run(["nm","-n",so],capture_output=True,text=True).stdout.splitlines() if len(l.split())==3 and l.split()[1] in "tT")
i=[k for k,s in enumerate(syms) if s[1]==fn][0]
lo, hi = syms[i][0], syms[i+1][0]
out = subprocess.run(["perf","script","-i",data,"-F","ip"],capture_output=True,text=True).stdout.split()
c=collections.Counter(int(l,16)-base+pgoff for l in out)
dis = subprocess.run(["objdump","-d","--no-show-raw-insn",f"--start-address={lo}",f"--stop-address={hi}",so],capture_output=True,text=True).stdout
tot=sum(v for a,v in c.items() if lo<=a<hi)
print("samples", tot)
for l in dis.splitlines():
    mm_=re.match(r"\s*([0-9a-f]+):\s*(.*)",l)
    if not mm_: continue
    a=int(mm_.group(1),16)
    print(f"{c.get(a,0)/tot*100:5.1f} {a:x} {mm_.group(2)}")
