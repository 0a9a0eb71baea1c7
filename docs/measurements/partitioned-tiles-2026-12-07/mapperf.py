import bisect, collections, subprocess, sys, re
data, so, ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
mm = subprocess.run(["perf","script","-i",data,"--show-mmap-events"],capture_output=True,text=True).stdout
m = [l for l in mm.splitlines() if "MMAP" in l and so in l and "r-xp" in l][0]
base, pgoff = re.search(r"\[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+)", m).group(1,3)
base, pgoff = int(base,16), int(pgoff,16)
syms=sorted((int(l.split()[0],16), l.split()[2]) for l in subprocess.run(["nm","-n",so],capture_output=True,text=True).stdout.splitlines() if len(l.split())==3 and l.split()[1] in "tT")
addrs=[s[0] for s in syms]
out = subprocess.run(["perf","script","-i",data,"-F","ip"],capture_output=True,text=True).stdout.split()
c=collections.Counter(); tot=len(out)
for l in out:
    ip=int(l,16)-base+pgoff
    i=bisect.bisect_right(addrs, ip)-1
    c[syms[i][1] if 0<=i and ip < addrs[-1]+100000 else 'other']+=1
for k,v in c.most_common(30): print(f"{v/tot*100:5.1f}% {v*ms/tot:6.3f}ms {k}")
