"""Per-row cost of the expansion 1x1 and the fused depthwise+1x1 on a tall plane (input beyond L2) and
a short one (input inside L2): the most a row-streamed inverted residual could save."""
import sys
import numpy as np, torch
import probe_kernels as pk

def expansion(cin, cout):
    return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU6()).eval()

def dwpw(c, k, s, f):
    return torch.nn.Sequential(torch.nn.Conv2d(c, c, k, s, 0, groups=c), torch.nn.ReLU6(), torch.nn.Conv2d(c, f, 1)).eval()

def jobs_any(net, shape, tag):
    WORK = pk.WORK; WORK.mkdir(exist_ok=True)
    from lutnas.lowering import export_onnx
    from lutnas.lowering.kernels import enumerate_kernels, export_module
    from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
    from lutnas.profiler.kernel_timing import KernelJob
    path = export_onnx(net, shape, WORK / f"{tag}.onnx")
    mod, _ = import_model(path, shape)
    lowered = lower_relax(mod, pk.TARGET, "lutnas-cpu")
    kernels = enumerate_kernels(lowered, shape, "lutnas-cpu")
    lib = export_module(compile_lowered(lowered, pk.TARGET).mod.imports[0], WORK / f"{tag}.so", pk.TARGET)
    return [(c, KernelJob(i.signature, lib, i.name, [q.shape for q in i.params], [q.dtype for q in i.params],
                          target=pk.TARGET.name, threads=1, repeats=20, min_repeat_ms=0.0))
            for i, c in zip(kernels.kernels, kernels.calls) if "conv2d" in i.name]

cin, c, w, k, s, f = map(int, sys.argv[1].split(","))
short = 8
variants, labels, rows = [], [], []
for h in (w, short):
    variants.append(jobs_any(expansion(cin, c), (1, cin, h, w), f"exp{h}")); labels.append(f"expansion h{h}"); rows.append(h)
    hin = s * (h // s - 1) + k
    variants.append(jobs_any(dwpw(c, k, s, f), (1, c, hin, w + k - 1), f"dwpw{h}")); labels.append(f"dw+pw h{h} (no border)"); rows.append(h // s)
tot = pk.time_variants(variants, rounds=7)
for lab, t, r in zip(labels, tot, rows):
    print(f"{lab}: {np.median(t):.1f} us, {np.median(t)/r:.2f} us per output row")
