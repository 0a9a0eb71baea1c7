"""Dense kxk convs (NHWC inside the network: a 1x1 first so the kxk reads channels-last): pad pass vs read in place."""
import contextlib, sys
import numpy as np, torch
import probe_kernels as pk
from stempad import inline_pad
for spec in sys.argv[1].split(";"):
    cin, cout, hw, k, s = map(int, spec.split(","))
    net = torch.nn.Sequential(torch.nn.Conv2d(8, cin, 1), torch.nn.Conv2d(cin, cout, k, s, k // 2), torch.nn.ReLU()).eval()
    shape = (1, 8, hw, hw)
    jobs = lambda tag, patch=contextlib.nullcontext: [j for j in pk.kernel_jobs(net, shape, tag, patch) if "conv2d1" in j[1].function]
    v = [jobs(f"kxk{spec}".replace(",", "_")), jobs(f"kxk{spec}_inl".replace(",", "_"), inline_pad)]
    print([len(x) for x in v], [j.function for _, j in v[0]], flush=True)
    t = pk.time_variants(v, rounds=9)
    print(f"conv {spec}: pad pass {np.median(t[0]):.1f} us, read in place {np.median(t[1]):.1f} us x{np.median(t[1]/t[0]):.3f}", flush=True)
