"""How much of each network's conv work multiplies channels that channel_pad made zero (K side)."""
import sys
import numpy as np
import tvm
from tvm import relax
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.tvm_build import import_model
from lutnas.lowering.pipeline import fusion_passes
from lutnas.spaces import get_space

target = get_target("x86", num_cores=1, **host_cpu_options())
tt = tvm.target.Target(target.canonical_json()) if hasattr(target, "canonical_json") else target
for space_name in ("proxyless", "fbnet", "ofa-mbv3"):
    sp = get_space(space_name); rng = np.random.default_rng(0)
    for i in range(3):
        arch = sp.sample(rng)
        onnx = export_onnx(sp.build(arch, 224).eval(), (1, 3, 224, 224), f"/tmp/probe/kpad/{space_name}{i}.onnx")
        mod, _ = import_model(onnx, (1, 3, 224, 224))
        with tvm.target.Target(tvm.target.Target(__import__("json").loads(target.canonical_json()))):
            passes = fusion_passes(tvm.target.Target(__import__("json").loads(target.canonical_json())))
            for p in passes[:11]:
                mod = p(mod)
        total = saved = 0.0
        rows = []
        class V(relax.PyExprVisitor if hasattr(relax, "PyExprVisitor") else object): pass
        def visit(e):
            global total, saved
            if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op) and e.op.name == "relax.nn.conv2d":
                w = e.args[1]
                out = [int(v) for v in e.struct_info.shape] if hasattr(e, "struct_info") else [int(v) for v in relax.analysis.get_static_type(e).shape] if False else None
                kl = e.attrs.kernel_layout
                x = e.args[0]
                if isinstance(w, tvm.ir.expr.Constant):
                    wn = w.value.numpy()
                    iax = kl.index("I")
                    g = int(e.attrs.groups)
                    xs = [int(v) for v in x.ty.shape]; dl = e.attrs.data_layout
                    st = [int(v) for v in e.attrs.strides]
                    px = xs[dl.index("H")] * xs[dl.index("W")] / st[0] / st[1]
                    flops = px * np.prod(wn.shape) * 2
                    total += flops
                    if g == 1:
                        nz = np.abs(np.moveaxis(wn, iax, 0)).reshape(wn.shape[iax], -1).max(axis=1) > 0
                        kreal = int(np.nonzero(nz)[0].max()) + 1
                        saved += flops * (1 - kreal / wn.shape[iax])
                        if kreal < wn.shape[iax]: rows.append((kreal, wn.shape[iax], wn.shape[3], int(px), flops * (1 - kreal / wn.shape[iax]) / 1e6))
        relax.analysis.post_order_visit(mod["main"], visit)
        if i == 0: print(rows)
        print(f"{space_name}#{i}: conv MFLOP {total/1e6:.0f}, on zero K rows {saved/1e6:.1f} ({saved/total:.1%})", flush=True)
