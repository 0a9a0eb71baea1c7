"""Whole networks at 1 thread with glibc's malloc asking for transparent huge pages
(GLIBC_TUNABLES=glibc.malloc.hugetlb=1: madvise(MADV_HUGEPAGE) on its arenas, so the VM's weights
and activations sit on 2 MB pages) against without, one worker process per sample, alternating.
python hp.py SPACE INDICES ROUNDS RUNS"""
import os, subprocess, sys
from pathlib import Path
import numpy as np
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.spaces import get_space
space, indices, rounds, runs = sys.argv[1], [int(i) for i in sys.argv[2].split(",")], int(sys.argv[3]), sys.argv[4]
t = get_target("x86", num_cores=1, **host_cpu_options())
sp = get_space(space); rng = np.random.default_rng(0)
archs = [sp.sample(rng) for _ in range(max(indices) + 1)]
shape = (1, 3, 224, 224)
for i in indices:
    so = Path(f"/tmp/probe/work/hp-{space}{i}.so")
    p = export_onnx(sp.build(archs[i], 224).eval(), shape, Path(f"/tmp/probe/work/hp-{space}{i}.onnx"))
    compile_lowered(lower_relax(import_model(p, shape)[0], t, "lutnas-cpu"), t).export_library(str(so))
    envs = {"4k": dict(os.environ), "thp": {**os.environ, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}}
    res, huge = {k: [] for k in envs}, {k: [] for k in envs}
    for r in range(rounds):
        for k in (list(envs) if r % 2 == 0 else list(envs)[::-1]):
            out = subprocess.run([sys.executable, "/tmp/probe/hpw.py", str(so), runs], env=envs[k],
                                 capture_output=True, text=True).stdout.split()
            res[k].append(float(out[0])); huge[k].append(int(out[1]))
    ratio = np.array(res["thp"]) / np.array(res["4k"])
    print(f"{space}#{i}: 4k {np.median(res['4k']):.3f} ms, thp {np.median(res['thp']):.3f} ms; thp/4k x{np.median(ratio):.3f} "
          f"(IQR {np.percentile(ratio, 25):.3f}-{np.percentile(ratio, 75):.3f}); AnonHugePages kB 4k {int(np.median(huge['4k']))} thp {int(np.median(huge['thp']))}", flush=True)
