import json
from pathlib import Path
import numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
from lutnas.lowering.ort import ort_session
from lutnas.profiler.harness import settled_sample_ms

def chain(k, op, path, ch=8):
    nodes, prev = [], "input"
    shape = [1, ch, 4, 4]
    inits = [numpy_helper.from_array(np.full((ch, 1, 1), 0.5, np.float32), "c"),
             numpy_helper.from_array((np.eye(ch, dtype=np.float32) * 0.9).reshape(ch, ch, 1, 1), "w")]
    for i in range(k):
        out = f"t{i}" if i < k - 1 else "output"
        args = {"Add": [prev, "c"], "Conv": [prev, "w"]}[op]
        nodes.append(helper.make_node(op, args, [out], name=f"n{i}"))
        prev = out
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
    onnx.save(m, path)

def cal(op):
    res = {}
    for k in (32, 256):
        p = Path(f"/tmp/cov/chain_{op}_{k}.onnx"); chain(k, op, p)
        plain = ort_session(p, 1); prof = ort_session(p, 1, profile_prefix=Path(f"/tmp/cov/chainprof_{op}_{k}"))
        x = {"input": np.ones((1, 8, 4, 4), np.float32)}
        for _ in range(20): plain.run(None, x); prof.run(None, x)
        L = np.median([settled_sample_ms(lambda: plain.run(None, x), 30) for _ in range(9)])
        for _ in range(100): prof.run(None, x)
        ev = json.loads(Path(prof.end_profiling()).read_text())
        durs = [e["dur"] for e in ev if e.get("cat") == "Node"]
        res[k] = (L, np.sum(durs) * 1e-3 / 120, len(durs) / 120)
    e = (res[256][0] - res[32][0]) / (res[256][2] - res[32][2]); d = (res[256][1] - res[32][1]) / (res[256][2] - res[32][2])
    return e, d
for rep in range(3):
    for op in ("Add", "Conv"):
        e, d = cal(op)
        print(f"{op}: plain per node {e*1e3:.2f} us, profiled per node {d*1e3:.2f} us -> c = {(d - e)*1e3:.2f} us")
