"""One 1x1 conv (+ReLU) alone through the shipped rule, its register tile forced ('px,fv'; 'auto' = the
rule's own; a tile that does not divide the GEMM is padded, `nhwc.pad_gemm`), alternating, and onnxruntime.
python tileab.py CIN COUT HW ROUNDS variant..."""
import os, sys, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
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
cores = int(os.environ["TVM_NUM_THREADS"])
target = get_target("x86", num_cores=cores, **host_cpu_options())
net = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval()
shape = (1, cin, hw, hw)
path = export_onnx(net, shape, Path(f"/tmp/probe/work/t{cin}-{cout}-{hw}.onnx"))
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
orig = nhwc.register_tile
vms = {}
for v in variants:
    def forced(shape_, lanes, max_acc, stack_acc=None, pad=False, v=v):
        if v == "auto" or shape_.pixels != hw * hw:
            return orig(shape_, lanes, max_acc, stack_acc, pad)
        return tuple(int(t) for t in v.split(","))
    with patch.object(nhwc, "register_tile", forced):
        mod, _ = import_model(path, shape)
        vms[v] = relax.VirtualMachine(compile_lowered(lower_relax(mod, target, "lutnas-cpu"), target), tvm.cpu())
ref = net(torch.from_numpy(x.numpy())).detach().numpy()
for v, vm in vms.items():
    err = np.abs(vm["main"](x).numpy() - ref).max()
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
t = {k: [] for k in list(vms) + ["ort"]}
keys = list(vms)
for r in range(rounds):
    t["ort"].append(ort_time()); time.sleep(0.1)
    for k in (keys if r % 2 == 0 else keys[::-1]):
        t[k].append(vms[k].time_evaluator("main", tvm.cpu(), number=20, repeat=1)(x).mean)
base = np.array(t[variants[0]])
flop = 2 * cin * cout * hw * hw
for k in t:
    a = np.array(t[k])
    print(f"{cin}->{cout} @{hw}x{hw} {cores}t {k:6s} {np.median(a)*1e6:8.1f} us {flop/np.median(a)/1e9:6.1f} GFLOP/s x{np.median(a/base):.3f} of {variants[0]}", flush=True)
