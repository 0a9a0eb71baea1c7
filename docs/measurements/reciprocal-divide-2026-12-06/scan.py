"""Static scan of a network library's kernels for instructions that cost more than they should:
divisions, square roots, scalar float arithmetic, calls, zmm/ymm spills to the stack.
python scan.py LIB"""
import collections, re, subprocess, sys
dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", sys.argv[1]], capture_output=True, text=True).stdout
fn, counts = None, collections.defaultdict(collections.Counter)
for line in dis.splitlines():
    m = re.match(r"[0-9a-f]+ <(.+)>:", line)
    if m: fn = m.group(1); continue
    m = re.match(r"\s*[0-9a-f]+:\s*(\S+)\s*(.*)", line)
    if not m or fn is None: continue
    op, arg = m.groups()
    if op.startswith(("vdiv", "div")) and "ps" in op or op.startswith("vsqrt"): counts[fn]["div/sqrt"] += 1
    if re.match(r"v(add|sub|mul|fmadd\d+|max|min)ss", op): counts[fn]["scalar-fp"] += 1
    if op == "call" and "TVMBackend" not in arg: counts[fn]["call"] += 1
    if op.startswith("vmov") and ("%zmm" in arg or "%ymm" in arg) and "(%rsp)" in arg: counts[fn]["spill"] += 1
for fn, c in sorted(counts.items(), key=lambda kv: -sum(kv[1].values()))[:25]:
    print(f"{dict(c)!s:50s} {fn[:90]}")
