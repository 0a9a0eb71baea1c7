"""The stem conv (NCHW input, transpose folded): its padding as a pass vs read in place (inlined)."""
import contextlib, sys
import numpy as np, torch
import probe_kernels as pk
from lutnas.lowering.rules import nhwc

@contextlib.contextmanager
def inline_pad():
    old = nhwc._pad_in_parallel
    nhwc._pad_in_parallel = lambda sch, block, lanes: sch.compute_inline(block)
    try:
        yield
    finally:
        nhwc._pad_in_parallel = old

def main():
    for spec in sys.argv[1].split(";"):
      cout, res = map(int, spec.split(","))
      net = torch.nn.Sequential(torch.nn.Conv2d(3, cout, 3, 2, 1), torch.nn.ReLU6()).eval()
      shape = (1, 3, res, res)
      v = [pk.kernel_jobs(net, shape, f"stem{cout}_{res}"), pk.kernel_jobs(net, shape, f"stem{cout}_{res}_inl", inline_pad)]
      print([len(x) for x in v], [j.function for _, j in v[0]], flush=True)
      t = pk.time_variants(v, rounds=9)
      print(f"stem 3->{cout} @{res}: pad pass {np.median(t[0]):.1f} us, read in place {np.median(t[1]):.1f} us x{np.median(t[1]/t[0]):.3f}", flush=True)

if __name__ == "__main__":
    main()
