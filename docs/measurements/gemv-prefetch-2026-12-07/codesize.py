"""Text size of a 224 px network's library, per kernel symbol. python codesize.py SPACE INDEX THREADS"""
import os, sys, subprocess
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
from pathlib import Path
import numpy as np
from lutnas.lowering import export_onnx
from lutnas.lowering.targets import get_target, host_cpu_options
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.spaces import get_space
space, index = sys.argv[1], int(sys.argv[2])
sp = get_space(space); rng = np.random.default_rng(0)
archs = [sp.sample(rng) for _ in range(index + 1)]
shape = (1, 3, 224, 224)
p = export_onnx(sp.build(archs[index], 224).eval(), shape, Path(f"/tmp/probe/work/cs-{space}{index}.onnx"))
t = get_target("x86", num_cores=int(sys.argv[3]), **host_cpu_options())
ex = compile_lowered(lower_relax(import_model(p, shape)[0], t, "lutnas-cpu"), t)
so = f"/tmp/probe/work/cs-{space}{index}.so"
ex.export_library(so)
print(subprocess.run(["size", so], capture_output=True, text=True).stdout)
syms = subprocess.run(["nm", "-S", "--size-sort", "-C", so], capture_output=True, text=True).stdout.split("\n")
funcs = [(int(l.split()[1], 16), l.split()[-1]) for l in syms if len(l.split()) >= 4 and l.split()[2] in "tT"]
funcs.sort(reverse=True)
print(f"{len(funcs)} functions, {sum(s for s, _ in funcs) / 1024:.0f} KB; largest:")
for s, n in funcs[:12]: print(f"  {s / 1024:6.1f} KB {n}")
