"""Is a GELU kernel's time value-dependent? The same kernel on N(0,1) arguments and on 0.05 x N(0,1)."""
import json, os, sys
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np
import tvm
lib_json = sys.argv[1]
kl = json.load(open(lib_json))
lib = tvm.runtime.load_module(lib_json.replace(".kernels.json", ".kernels.so"))
dev = tvm.cpu()
for k in kl["kernels"]:
    if "erf" not in k["name"] and "layer_norm" not in k["name"] and "softmax" not in k["name"]:
        continue
    res = []
    for scale in (1.0, 0.05, 1.0, 0.05):
        rng = np.random.default_rng(0)
        args = [tvm.runtime.tensor((rng.standard_normal(s) * scale).astype(d), dev) for s, d in k["params"]]
        f = lib.time_evaluator(k["name"], dev, number=20, repeat=5)
        f(*args)
        res.append(min(f(*args).results) * 1e6)
    print(f"{k['name'][:60]:60s} N(0,1): {res[0]:8.1f} {res[2]:8.1f} us   0.05*N(0,1): {res[1]:8.1f} {res[3]:8.1f} us")
