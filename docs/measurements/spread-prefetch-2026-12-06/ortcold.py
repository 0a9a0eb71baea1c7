"""One 1x1 conv CIN,COUT,HW: TVM (lutnas-cpu, 1-thread build) and onnxruntime (1 thread), each hot and
after a 64 MB write (weights, input, output evicted), alternating, ROUNDS rounds."""
import sys, time
import numpy as np, torch, tvm
from tvm import relax
from pathlib import Path
from lutnas.lowering import export_onnx
from lutnas.lowering.ort import ort_session
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
T = get_target("x86", mcpu=system_cpu(), num_cores=1)
FLUSH = np.ones(64 << 20 >> 2, dtype=np.float32)
rounds = int(sys.argv[1])
for cin, cout, hw in (tuple(map(int, a.split(","))) for a in sys.argv[2:]):
    path = export_onnx(torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU()).eval(),
                       (1, cin, hw, hw), Path(f"/tmp/probe/work/pw{cin}-{cout}-{hw}.onnx"))
    mod, _ = import_model(path, (1, cin, hw, hw))
    vm = relax.VirtualMachine(compile_lowered(lower_relax(mod, T, "lutnas-cpu"), T), tvm.cpu())
    sess = ort_session(path, 1)
    xn = np.random.rand(1, cin, hw, hw).astype("float32")
    x = tvm.runtime.tensor(xn)
    name = sess.get_inputs()[0].name
    runs = {"tvm": lambda: vm["main"](x), "ort": lambda: sess.run(None, {name: xn})}
    res = {k: {"hot": [], "cold": []} for k in runs}
    for _ in range(rounds):
        for k, f in runs.items():
            for _ in range(3): f()
            t = []
            for _ in range(10):
                s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
            res[k]["hot"].append(np.median(t) * 1e6)
            t = []
            for _ in range(10):
                FLUSH[:] += 1.0
                s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
            res[k]["cold"].append(np.median(t) * 1e6)
    line = f"{cin}->{cout} @{hw}:"
    for k in runs:
        h, c = np.median(res[k]["hot"]), np.median(res[k]["cold"])
        line += f" {k} hot {h:.0f} us cold {c:.0f} us (x{np.median(np.array(res[k]['cold']) / np.array(res[k]['hot'])):.2f}) |"
    line += f" tvm/ort hot x{np.median(np.array(res['tvm']['hot']) / np.array(res['ort']['hot'])):.3f} cold x{np.median(np.array(res['tvm']['cold']) / np.array(res['ort']['cold'])):.3f}"
    print(line, flush=True)
