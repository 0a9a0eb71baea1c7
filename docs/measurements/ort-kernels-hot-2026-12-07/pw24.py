"""1x1 convs alone, hot, 1 thread: lutnas-cpu's conv kernel as shipped against accumulators up to LIMIT
bytes on the stack (bigstack), and onnxruntime's Conv node on the same model.
python pw24.py ROUNDS LIMIT CIN,COUT,HW ..."""
import os, sys, json, tempfile
os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/docs/measurements/host-features-and-stack-tiles-2026-12-06")
sys.path.insert(0, "/work/main/bench")
import numpy as np, torch, onnxruntime as ort
from contextlib import ExitStack
from unittest.mock import patch
from pathlib import Path
import bigstack, kernel_roofline as kr
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.rules import base, nhwc
from lutnas.profiler.runners import LocalRunner
ROUNDS, LIMIT = int(sys.argv[1]), int(sys.argv[2])
VARIANTS = os.environ.get("VARIANTS", f"rules,stack{LIMIT}").split(",")
spec = get_target("x86", num_cores=1, **host_cpu_options())
runner = LocalRunner(spec, "tvm", 1)
chosen = {}
orig = nhwc.register_tile
def spy(shape, lanes, max_acc, stack_acc=None):
    t = orig(shape, lanes, max_acc, stack_acc); chosen.setdefault(tag, []).append((shape, t)); return t
class Net(torch.nn.Module):
    def __init__(s, cin, cout):
        super().__init__(); s.conv = torch.nn.Conv2d(cin, cout, 1)
    def forward(s, x):
        return torch.relu(s.conv(x + 1.0))
def ort_node(path, x):
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.enable_profiling = True
    so.profile_file_prefix = tempfile.mkdtemp() + "/p"
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(60): s.run(None, {s.get_inputs()[0].name: x})
    ev = json.load(open(s.end_profiling()))
    d = [e["dur"] for e in ev if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and "Conv" in e["args"].get("op_name", "")]
    return float(np.median(d[len(d) // 2:]))
for shp in sys.argv[3:]:
    cin, cout, hw = map(int, shp.split(","))
    path = export_onnx(Net(cin, cout).eval(), (1, cin, hw, hw), Path(f"/tmp/probe/work/pw{cin}-{cout}-{hw}.onnx"))
    xn = np.random.default_rng(0).standard_normal((1, cin, hw, hw)).astype("float32")
    jobs = []
    with patch.object(nhwc, "register_tile", spy):
        for tag in VARIANTS:
            with ExitStack() as st:
                if tag.startswith("stack"):
                    lim = int(tag[5:])
                    st.enter_context(bigstack.as_default_pipeline(lim)); st.enter_context(patch.object(base, "STACK_ARRAY_BYTES", lim))
                work = Path(f"/tmp/probe/work/{tag}-{cin}-{cout}-{hw}"); work.mkdir(parents=True, exist_ok=True)
                ks = kr.tvm_kernels(path, (1, cin, hw, hw), spec, "lutnas-cpu", 1, 30, work, "hot")
            jobs.append(max(ks, key=lambda k: k.flops).job)
    res = [[] for _ in jobs]
    for r in range(ROUNDS):
        for i, job in enumerate(jobs):
            res[i].append(float(np.median(runner.measure_kernel(job).samples_ms)) * 1e3)
    ortt = ort_node(path, xn)
    flop = 2 * hw * hw * cin * cout
    base_ = np.array(res[0])
    line = f"{cin:5d}->{cout:5d} @{hw:3d}: ort node {ortt:6.1f} us {flop/ortt/1e3:4.0f} GF |"
    for tag, rr in zip(VARIANTS, res):
        t = [t for s_, t in chosen.get(tag, []) if s_.channels == cout and s_.depth == cin]
        line += f" {tag} {np.median(rr):6.1f} us {flop/np.median(rr)/1e3:4.0f} GF {t[0] if t else ''} x{np.median(np.array(rr) / base_):.3f} |"
    print(line, flush=True)
    chosen.clear()
