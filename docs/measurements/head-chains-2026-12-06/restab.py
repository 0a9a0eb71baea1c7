"""One kernel of a network timed after different 'rests': the whole rest of the model (in-model), only
its predecessor kernel(s), nothing (hot); each also with denormals flushed (ftz: torch.set_flush_denormal on
the calling thread, which runs a 1-thread TVM kernel); then the arguments' denormals and alignment.
DIR holds a network's net.so and net.kernels.so (bench/kernel_roofline.py's work dir).
python restab.py DIR FUNCTION_SUBSTRING ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = "1"
import numpy as np, tvm, json, torch
from lutnas.profiler import board_hooks as bh
from replay import network_replay
d, sub, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rep, klib = network_replay(d)
idx = [i for i, (n, _, _) in enumerate(rep.calls) if sub in n]
print("calls:", [(i, rep.calls[i][0][:50]) for i in idx])
i = idx[0]
rep.select(rep.calls[i][0]); rep.selected = i
full = list(bh._REST)
pred = [(fn, a) for _, fn, a in rep.calls[i - 1:i]]
pred3 = [(fn, a) for _, fn, a in rep.calls[i - 3:i]]
print("predecessors:", [n[:60] for n, _, _ in rep.calls[i - 3:i]])
modes = {"in-model": full, "pred1": pred, "pred3": pred3, "hot": [], "in-model ftz": full, "hot ftz": []}
res = {m: [] for m in modes}
tvm.register_global_func(bh.REST_OF_MODEL, bh._run_rest, override=True)
for r in range(rounds):
    for m, rest in (modes.items() if r % 2 == 0 else list(modes.items())[::-1]):
        bh._REST[:] = rest
        torch.set_flush_denormal(m.endswith("ftz"))
        res[m].append(np.median(rep.time_selected(15)) * 1e6)
h = np.array(res["hot"])
for m in modes:
    print(f"{m:9s} {np.median(res[m]):7.1f} us  x{np.median(np.array(res[m]) / h):.3f} of hot")

torch.set_flush_denormal(False)
name, fn, args = rep.calls[i]
a = args[0].numpy()
tiny = np.abs(a)[(a != 0)]
print("input:", a.shape, "zeros", float((a == 0).mean()), "denormal share", float(((np.abs(a) < 1.1754944e-38) & (a != 0)).mean()), "min |nonzero|", float(tiny.min()) if tiny.size else None)
for j, t in enumerate(args):
    v = t.numpy()
    print(j, v.shape, "denormals", int(((np.abs(v) < 1.1754944e-38) & (v != 0)).sum()))
import ctypes
for j, t in enumerate(args):
    v = np.from_dlpack(t)
    print("arg", j, "address mod 64 =", v.ctypes.data % 64, "mod 4096 =", v.ctypes.data % 4096)
