"""Pair TVM's fused kernels with onnxruntime's nodes by convolution count, in network order."""
import json, re, sys
d = json.load(open(sys.argv[1]))
tvm = [k for k in d["kernels"] if k["runtime"] == "tvm"]
ort = [k for k in d["kernels"] if k["runtime"] != "tvm"]
def nconv(k):
    if k["runtime"] == "tvm":
        n = len(re.findall(r"conv2d\d*_", k["name"] + "_")) + len(re.findall(r"matmul", k["name"]))
        return n
    return 1 if k["kind"].startswith(("conv", "depthwise", "gconv", "dense")) else 0
j = 0; tot_t = tot_o = 0
rows = []
for k in tvm:
    n = nconv(k); t = k["ms"] * k["calls"] * 1e3
    o = 0.0; names = []
    if n == 0:
        rows.append((k["kind"], k["shape"], t, None, "")); tot_t += t; continue
    got = 0
    while j < len(ort) and got < n:
        o += ort[j]["ms"] * ort[j]["calls"] * 1e3; names.append(ort[j]["kind"]); got += nconv(ort[j]); j += 1
    while j < len(ort) and nconv(ort[j]) == 0:
        o += ort[j]["ms"] * ort[j]["calls"] * 1e3; names.append(ort[j]["kind"]); j += 1
    rows.append((k["kind"], k["shape"], t, o, "+".join(names))); tot_t += t; tot_o += o
for kind, shape, t, o, names in rows:
    print(f"{kind:12s} {shape:30s} tvm {t:7.1f}  ort {o if o is not None else float('nan'):7.1f}  {'' if not o else f'x{t/o:.2f}'}  {names}")
print(f"total tvm {tot_t:.0f} ort {tot_o:.0f} (ort nodes left: {len(ort)-j})")
