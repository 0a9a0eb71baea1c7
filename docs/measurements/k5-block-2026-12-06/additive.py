"""Do a network's in-model kernel times add up to the network? One build: the network timed whole
(the VM, `time_evaluator` of 20 calls) just before and just after each sweep of every fused kernel
timed in-model (the profiler's replay: each call after the rest of the network, on its buffers).
(Its first run of 2026-12-06 timed the network once between sweeps, alternating: x1.107.)
python additive.py SPACE INDEX THREADS ROUNDS"""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench")
import numpy as np
import tvm
from tvm import relax
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_roofline as kr
from blockab_lib import network_kernels

space, index, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
kernels, runner, shape, work = network_kernels("additive", space, index, threads)
vm = relax.VirtualMachine(tvm.runtime.load_module(str(work / "net.so")), tvm.cpu())
x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
vm["main"](x)
net, summed = [], []
timer = vm.time_evaluator("main", tvm.cpu(), number=20, repeat=1)
for r in range(rounds):   # the network timed just before and just after each sweep of its kernels
    before = timer(x).mean * 1e3
    works = kr.time_tvm(kernels, runner, f"round {r + 1}")
    net.append(0.5 * (before + timer(x).mean * 1e3))
    summed.append(sum(w.ms * w.calls for w in works))
ratio = np.array(net) / np.array(summed)
print(f"{space}#{index} {threads}t: network {np.median(net):.3f} ms, in-model kernels summed {np.median(summed):.3f} ms; "
      f"network / summed per round: {' '.join(f'{v:.3f}' for v in ratio)} (median {np.median(ratio):.3f})")
