"""Does a kernel's time depend on where its buffers sit? Buffers carved from one pool at chosen offsets."""
import sys, tempfile
from pathlib import Path
import numpy as np, tvm
from lutnas.lowering import export_onnx, get_target
from lutnas.spaces import get_space
from lutnas.lowering.kernels import enumerate_kernels, export_module
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
space_name, idx, res = sys.argv[1], int(sys.argv[2]), 224
names = sys.argv[3].split(",")
space = get_space(space_name); rng = np.random.default_rng(0)
arch = [space.sample(rng) for _ in range(idx + 1)][-1]
target = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))
shape = (1, 3, res, res); wd = Path(tempfile.mkdtemp())
onnx_path = export_onnx(space.build(arch, res), shape, wd / "net.onnx")
lowered = lower_relax(import_model(onnx_path, shape)[0], target, "lutnas-cpu")
kernels = enumerate_kernels(lowered, shape, "lutnas-cpu")
klib = export_module(compile_lowered(lowered, target).mod.imports[0], wd / "k.so", target)
lib = tvm.runtime.load_module(str(klib)); dev = tvm.cpu()
POOL = np.zeros(64 << 20, dtype=np.uint8)
base = (-POOL.ctypes.data) % (1 << 21)   # 2 MB aligned start
def carve(shapes, offsets):
    out, pos, addr0 = [], base, POOL.ctypes.data
    for shp, off in zip(shapes, offsets):
        n = int(np.prod(shp)) * 4
        pos = pos - base
        pos = base + (pos + (1 << 21) - 1) // (1 << 21) * (1 << 21) + off   # each buffer at a 2 MB boundary + off
        a = POOL[pos:pos + n].view(np.float32).reshape(shp)
        a[...] = np.random.default_rng(1).standard_normal(shp).astype(np.float32) * 0.1
        out.append(tvm.runtime.from_dlpack(a)); pos += n
    return out
for info in kernels.kernels:
    if not any(n in info.name for n in names): continue
    shapes = [tuple(p.shape) for p in info.params]
    f = lib.time_evaluator(info.name, dev, number=20, repeat=9, min_repeat_ms=0)
    res_ = []
    for out_off in (0, 64, 256, 1024, 2048, 3072, 4096 + 512, 8192 + 1536):
        offs = [0] * (len(shapes) - 1) + [out_off]
        args = carve(shapes, offs)
        f(*args)
        res_.append((out_off, np.median(f(*args).results) * 1e6))
    print(info.name[:50], shapes[0], "->", shapes[-1], " ".join(f"{o}:{t:.1f}" for o, t in res_))
