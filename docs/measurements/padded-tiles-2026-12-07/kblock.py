"""One 1x1 conv (+ReLU), 1 thread: variants 'px,fv[,kb]' with the pixel and channel domain padded
to multiples of px and fv (when they do not divide), kb input channels per K block (0: none);
'auto' = the shipped rule. python kblock.py CIN COUT HW ROUNDS variant..."""
import os, sys, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
from pathlib import Path
import numpy as np, torch, tvm
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
import lutnas.lowering.rules.nhwc as nhwc
from lutnas.lowering.rules.base import static_extents, vector_lanes, accumulators_on_stack, inline_chain
from lutnas.lowering.rules.conv import conv_parts
cin, cout, hw, rounds = (int(a) for a in sys.argv[1:5])
variants = sys.argv[5:]
cores = int(os.environ["TVM_NUM_THREADS"])
target = get_target("x86", num_cores=cores, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval()
shape = (1, cin, hw, hw)
path = export_onnx(net, shape, Path(f"/tmp/probe/work/pw{cin}-{cout}-{hw}.onnx"))
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
orig_apply = nhwc.ChannelsLastConv.apply
state = {}

def padded_apply(self, func, tgt, tunable):
    v = state["v"]
    parts = conv_parts(func, 3, broadcast_last=True)
    if v == "auto" or parts is None or parts.extents[4:6] != [1, 1]:
        return orig_apply(self, func, tgt, tunable)
    px, fv, kb = ([int(t) for t in v.split(",")] + [0])[:3]
    _n, h, w, f, kh, kw, rc = parts.extents
    sch, conv = parts.sch, parts.reduction
    lanes = vector_lanes(tgt)
    out = inline_chain(sch, parts.consumers)
    for block in parts.producers:
        sch.compute_inline(block)
    nhwc._flatten_pixels(sch, conv, out, w)
    src = sch.cache_read(conv, 0, "global")
    sch.transform_layout(src, ("write", 0), lambda n, y, x, c: (n, y * w + x, c))
    pixels = h * w
    pad_p, pad_f = (pixels % px != 0), (f % fv != 0)
    sch.pad_einsum(conv, [1, px if pad_p else 1, fv if pad_f else 1, 1, 1, 1])
    sch.compute_inline(src)
    for back in sch.get_consumers(conv):
        if sch.get(back).name_hint != sch.get(out).name_hint:
            sch.compute_inline(back)
    idx = [i for i, r in enumerate(sch.get(conv).reads) if len(r.region) == 4][0]
    wpad = [b for b in sch.get_producers(conv) if sch.get(b).writes[0].source.same_as(sch.get(conv).reads[idx].source)]
    packed = sch.cache_read(conv, idx, "global")
    sch.transform_layout(packed, ("write", 0), lambda hh, ww, i, o: (o // fv, hh, ww, i, o % fv))
    sch.annotate(packed, "meta_schedule.layout_rewrite_preproc", True)
    for b in wpad:
        sch.compute_inline(b)
    ln, lp, lf, ry, rx, lrc = sch.get_loops(conv)
    po, pi = sch.split(lp, factors=[None, px])
    fo, fi = sch.split(lf, factors=[None, fv])
    if kb:
        kbo, ki = sch.split(lrc, factors=[None, kb])
        sch.reorder(ln, fo, kbo, po, ry, rx, ki, pi, fi)
        outer = sch.fuse(ln, fo)
        at, first_reduce = outer, kbo
    else:
        sch.reorder(ln, fo, po, ry, rx, lrc, pi, fi)
        outer = sch.fuse(ln, fo, po)
        at, first_reduce = outer, ry
    sch.parallel(outer)
    sch.unroll(pi)
    nhwc.split_vectors(sch, fi, lanes, max_unroll=16)
    accumulators_on_stack(sch, conv)
    sch.reverse_compute_at(out, at, preserve_unit_loops=True)
    nhwc.split_vectors(sch, sch.get_loops(out)[-1], lanes, 16)
    init = sch.decompose_reduction(conv, first_reduce)
    nhwc.split_vectors(sch, sch.get_loops(init)[-1], lanes, 16)
    if not kb and not os.environ.get("NOPF"):
        nhwc.prefetch_next_strip(sch, conv, lrc, outer, -(-pixels // px), -(-f // fv), fv)
    # the pad copy: vectorize its channels
    for b in sch.get_producers(conv):
        if sch.get(b).name_hint.endswith("_pad") and "param" not in sch.get(b).name_hint:
            loops = sch.get_loops(b)
            nhwc.split_vectors(sch, loops[-1], lanes)
    return sch

nhwc.ChannelsLastConv.apply = padded_apply
vms = []
for v in variants:
    state["v"] = v
    mod, _ = import_model(path, shape)
    lowered = lower_relax(mod, target, "lutnas-cpu")
    if os.environ.get("SHOW") == v:
        print(lowered.script())
    vms.append(relax.VirtualMachine(compile_lowered(lowered, target), tvm.cpu()))
outs = [vm["main"](x).numpy() for vm in vms]
ref = net(torch.from_numpy(x.numpy())).detach().numpy()
for v, o in zip(variants, outs):
    err = np.abs(o - ref).max()
    assert err < 1e-3 * max(1, np.abs(ref).max()), (v, err)
import onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = cores; so.inter_op_num_threads = 1
sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
xn = x.numpy(); iname = sess.get_inputs()[0].name
def ort_time():
    ts = []
    for _ in range(20):
        s0 = time.perf_counter(); sess.run(None, {iname: xn}); ts.append(time.perf_counter() - s0)
    return np.median(ts)
t = {v: [] for v in variants}
t["ort"] = []
for r in range(rounds):
    order = list(range(len(variants))) if r % 2 == 0 else list(reversed(range(len(variants))))
    t["ort"].append(ort_time())
    for j in order:
        t[variants[j]].append(vms[j].time_evaluator("main", tvm.cpu(), number=20, repeat=1)(x).mean)
base = np.array(t[variants[0]])
flop = 2 * cin * cout * hw * hw
for v in variants + ["ort"]:
    a = np.array(t[v])
    print(f"{cin}->{cout} @{hw}x{hw} {cores}t tile {v:10s} {np.median(a)*1e6:8.1f} us  {flop/np.median(a)/1e9:6.1f} GFLOP/s  x{np.median(a/base):.3f} of {variants[0]}", flush=True)
