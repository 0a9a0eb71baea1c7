"""One 1x1 conv (+ReLU) channels-last, 1 thread: forced register tiles for its pixel count, alternating.
python pwtile.py CIN COUT HW ROUNDS px,fv [px,fv ...]   (px,fv = pixels, channels; 'auto' = the rule's)"""
import os, sys, time
os.environ["TVM_NUM_THREADS"] = "1"
from pathlib import Path
from unittest.mock import patch
import numpy as np, torch, tvm
from tvm import relax
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
import lutnas.lowering.rules.nhwc as nhwc
cin, cout, hw, rounds = (int(a) for a in sys.argv[1:5])
variants = sys.argv[5:]
target = get_target("x86", num_cores=1, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval()
shape = (1, cin, hw, hw)
path = export_onnx(net, shape, Path(f"/tmp/probe/work/pw{cin}-{cout}-{hw}.onnx"))
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
orig = nhwc.register_tile
vms = []
for v in variants:
    lp = v.endswith("+lp"); v = v.removesuffix("+lp")
    cfg = {"s_tir.LoopPartition": {"partition_const_loop": True}} if lp else {}
    def forced(shape_, lanes, max_acc, stack_acc=None, v=v):
        if v == "auto" or shape_.pixels != hw * hw:
            return orig(shape_, lanes, max_acc, stack_acc)
        px, fv = (int(t) for t in v.split(","))
        return px, fv
    with patch.object(nhwc, "register_tile", forced), tvm.transform.PassContext(opt_level=3, config=cfg):
        mod, _ = import_model(path, shape)
        vms.append(relax.VirtualMachine(compile_lowered(lower_relax(mod, target, "lutnas-cpu"), target), tvm.cpu()))
outs = [vm["main"](x).numpy() for vm in vms]
for v, o in zip(variants, outs):
    err = np.abs(o - outs[0]).max()
    assert err < 1e-3 * max(1, np.abs(outs[0]).max()), (v, err)
import onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
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
    t["ort"].append(ort_time() if not os.environ.get("NOORT") else 1.0)
    for j in order:
        t[variants[j]].append((vms[j].time_evaluator("main", tvm.cpu(), number=1, repeat=20, f_preproc="cache_flush_cpu_non_first_arg")(x).median if os.environ.get("COLD") else vms[j].time_evaluator("main", tvm.cpu(), number=20, repeat=1)(x).mean))
base = np.array(t[variants[0]])
flop = 2 * cin * cout * hw * hw
for v in variants + ["ort"]:
    a = np.array(t[v])
    print(f"{cin}->{cout} @{hw}x{hw} tile {v:8s} {np.median(a)*1e6:8.1f} us  {flop/np.median(a)/1e9:6.1f} GFLOP/s  x{np.median(a/base):.3f} of {variants[0]}")
