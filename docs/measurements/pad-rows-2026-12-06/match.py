"""Pair TVM's kernels (in the VM's call order) with onnxruntime's nodes (in its run order) by the
convolutions each holds; print per group TVM us, ORT us and the ratio, largest losses first.
python match2.py ROOFLINE.json SPACE INDEX"""
import json, re, sys
import numpy as np
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.pipeline import fused_module
from lutnas.spaces import get_space

d = json.load(open(sys.argv[1]))
space, index = sys.argv[2], int(sys.argv[3])
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
assert list(arch) == d["arch"], (arch, d["arch"])
onnx = export_onnx(sp.build(arch, 224).eval(), (1, 3, 224, 224), "/tmp/probe/kpad/match.onnx")
mod = fused_module(onnx, (1, 3, 224, 224), get_target("x86", num_cores=1, **host_cpu_options()).tvm_target())
order = []
for block in mod["main"].body.blocks:
    for b in block.bindings:
        v = b.value
        if hasattr(v, "op") and getattr(v.op, "name", "") == "relax.call_tir":
            order.append(v.args[0].name_hint)
tvm = {k["name"].removesuffix("_prepacked"): k for k in d["kernels"] if k["runtime"] == "tvm"}
ort = [k for k in d["kernels"] if k["runtime"] != "tvm"]
convs = lambda name: len(re.findall(r"conv2d", name)) + len(re.findall(r"matmul", name))
is_conv = lambda k: k["kind"].startswith(("conv", "depthwise", "gconv", "dense"))
j, rows = 0, []
for name in order:
    k = tvm.get(name)
    if k is None:
        continue
    t = k["ms"] * 1e3
    n, got, o, kinds = convs(name), 0, 0.0, []
    want_pool = k["kind"] == "pool"
    while j < len(ort) and (got < n or (want_pool and not kinds)):
        o += ort[j]["ms"] * ort[j]["calls"] * 1e3; kinds.append(ort[j]["kind"]); got += is_conv(ort[j]); j += 1
    while j < len(ort) and not is_conv(ort[j]) and not (ort[j]["kind"] == "pool" and not want_pool):
        o += ort[j]["ms"] * ort[j]["calls"] * 1e3; kinds.append(ort[j]["kind"]); j += 1
    rows.append((t - o, t, o, k["kind"], k["shape"], "+".join(kinds)))
print(f"{len(order)} TVM calls, {len(ort)} ORT nodes, {len(ort) - j} left unmatched")
print(f"total TVM {sum(r[1] for r in rows):.0f} us, ORT {sum(r[2] for r in rows):.0f} us")
for loss, t, o, kind, shape, kinds in sorted(rows, key=lambda r: -r[0])[:15]:
    print(f"{kind:12s} {shape:30s} tvm {t:7.1f} ort {o:7.1f} {'x%.2f' % (t / o) if o else '':6s} {loss:+7.1f}  {kinds}")
