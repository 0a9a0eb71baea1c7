"""One kernel of a network, hot: on the network's own tensors vs fresh random tensors of the same shapes.
python argsab.py DIR FUNCTION_SUBSTRING ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np, tvm
from replay import network_replay
d, sub, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rep, klib = network_replay(d)
i = next(i for i, (n, _, _) in enumerate(rep.calls) if sub in n)
name, fn, args = rep.calls[i]
rng = np.random.default_rng(0)
fresh = [tvm.runtime.tensor(rng.standard_normal(a.shape).astype("float32")) for a in args]
copies = [tvm.runtime.tensor(a.numpy()) for a in args]      # the network's values in fresh tensors
mixed = [copies[0]] + list(args[1:])
mixed2 = [args[0]] + copies[1:]
import math
scaled = [tvm.runtime.tensor((rng.standard_normal(a.shape) * (1.0 if n in (0, len(args) - 1) or len(a.shape) < 2 else 1 / math.sqrt(math.prod(a.shape[:-1])))).astype("float32")) for n, a in enumerate(args)]
sets = {"network": list(args), "profiler-scaled": scaled, "copies": copies, "random": fresh, "input copied": mixed, "others copied": mixed2}
ev = klib.time_evaluator(name, tvm.cpu(), number=20, repeat=1)
res = {k: [] for k in sets}
for r in range(rounds):
    for k in (sets if r % 2 == 0 else list(sets)[::-1]):
        res[k].append(ev(*sets[k]).mean * 1e6)
base = np.array(res["network"])
print(name, [tuple(a.shape) for a in args])
for k in sets:
    print(f"{k:14s} {np.median(res[k]):7.1f} us  x{np.median(np.array(res[k]) / base):.3f}")
