"""Probe: fbnet g2 blocks / nets as built vs grouped 1x1 densified vs densified + shuffle folded into
the conv's output channels (ONNX rewrite), compiled with lutnas-cpu, timed interleaved in one process."""
import os, sys
os.environ.setdefault("TVM_NUM_THREADS", "1")
from pathlib import Path
import numpy as np, onnx, torch, tvm
from onnx import numpy_helper as nh
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.tvm_build import import_model, compile_lowered
from lutnas.lowering.pipeline import cpu_pipeline
from lutnas.lowering.targets import get_target, system_cpu

spec_t = get_target("x86", mcpu=system_cpu()); t = spec_t.tvm_target(); dev = tvm.cpu()

def attr(n, name, default=None):
    for a in n.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default

def rewrite(m, fold_shuffle, only_folded=False):
    g = m.graph; inits = {i.name: i for i in g.initializer}
    for n in g.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    drop = []
    for n in list(g.node):
        if n.op_type != "Conv" or attr(n, "group", 1) == 1 or list(attr(n, "kernel_shape")) != [1, 1]:
            continue
        w = nh.to_array(inits[n.input[1]]); grp = attr(n, "group"); o, cg = w.shape[:2]
        if cg == 1:
            continue  # depthwise
        dense = np.zeros((o, cg * grp, 1, 1), np.float32); og = o // grp
        for k in range(o):
            gi = k // og; dense[k, gi * cg:(gi + 1) * cg] = w[k]
        b = nh.to_array(inits[n.input[2]]) if len(n.input) > 2 else None
        folded = False
        if fold_shuffle:
            act = consumers.get(n.output[0], [])
            chain = act if len(act) == 1 and act[0].op_type in ("Relu", "Clip") else []
            tail = chain[0].output[0] if chain else n.output[0]
            r1 = consumers.get(tail, [])
            if len(r1) == 1 and r1[0].op_type == "Reshape":
                tr = consumers.get(r1[0].output[0], [])
                if len(tr) == 1 and tr[0].op_type == "Transpose" and list(attr(tr[0], "perm")) == [0, 2, 1, 3, 4]:
                    r2 = consumers.get(tr[0].output[0], [])
                    if len(r2) == 1 and r2[0].op_type == "Reshape":
                        sg = nh.to_array([x for x in g.node if x.output[0] == r1[0].input[1]][0].attribute[0].t)[1]
                        c = o; perm = np.array([(k % sg) * (c // sg) + k // sg for k in range(c)])
                        dense = dense[perm]; b = b[perm] if b is not None else None
                        last = chain[0] if chain else n
                        last.output[0] = r2[0].output[0]
                        drop += [r1[0], tr[0], r2[0]]; folded = True
        if only_folded and not folded:
            continue
        new_w = nh.from_array(dense, n.input[1] + "_dense"); g.initializer.append(new_w); n.input[1] = new_w.name
        if b is not None:
            new_b = nh.from_array(b.astype(np.float32), n.input[2] + "_perm"); g.initializer.append(new_b); n.input[2] = new_b.name
        for a in n.attribute:
            if a.name == "group":
                a.i = 1
    for d in drop:
        g.node.remove(d)
    return m

def build(path, shape):
    mod, _ = import_model(path, shape)
    with t:
        lowered = cpu_pipeline(t)(mod)
    return relax.VirtualMachine(compile_lowered(lowered, spec_t), dev)

work = Path("/tmp/s20/sh")
for arg in sys.argv[1:]:
    if "@" in arg:
        from lutnas.spaces.blocks import Block, BlockSpec
        spec, hw = arg.split("@"); b = BlockSpec.parse(spec); bl = Block(b, (1, b.in_ch, int(hw), int(hw)))
        net, shape = bl.build().eval(), bl.input_shape
    else:
        from lutnas.spaces import get_space
        space_name, res, seed = arg.split(":"); space = get_space(space_name)
        arch = space.sample(np.random.default_rng(int(seed)))
        net, shape = space.build(arch, int(res)).eval(), (1, 3, int(res), int(res))
    base = export_onnx(net, shape, work / f"{arg.replace(':', '_')}.onnx")
    paths = {"asis": base}
    for name, fold, only in (("fold-only", True, True), ("dense+fold", True, False)):
        m = rewrite(onnx.load(base), fold, only); p = work / f"{arg.replace(':', '_')}-{name}.onnx"; onnx.save(m, p); paths[name] = p
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    want = net(torch.from_numpy(x)).detach().numpy(); xx = tvm.runtime.tensor(x, dev)
    vms = {}
    for k, p in paths.items():
        vm = build(p, shape)
        err = np.abs(vm["main"](xx).numpy() - want).max() / (np.abs(want).max() + 1e-9)
        if err > 1e-4: print("NUMERICS", arg, k, err)
        vms[k] = vm
    times = {k: [] for k in vms}
    for r in range(9):
        for k, vm in vms.items():
            n = max(1, int(0.1 / max(vm.time_evaluator("main", dev, number=2, repeat=1)(xx).mean, 1e-7)))
            times[k].append(vm.time_evaluator("main", dev, number=n, repeat=1)(xx).mean * 1e6)
    b0 = np.array(times["asis"])
    print(arg, "  ".join(f"{k} {np.median(v):.0f}us x{np.median(np.array(v) / b0):.3f}" for k, v in times.items()), flush=True)
