"""Network time vs its kernels' sum (hot, and flushed-but-first-arg), same process."""
import os, sys, tempfile, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
from pathlib import Path
import numpy as np
def main():
    import tvm
    from tvm import relax
    from lutnas.spaces import get_space
    from lutnas.lowering import export_onnx
    from lutnas.lowering.kernels import enumerate_kernels, export_module
    from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
    from lutnas.lowering.targets import get_target, system_cpu
    from lutnas.profiler.kernel_timing import KernelJob, time_kernel
    space_name, res = sys.argv[1], int(sys.argv[2])
    space = get_space(space_name)
    arch = space.sample(np.random.default_rng(0))
    shape = (1, 3, res, res)
    d = Path(tempfile.mkdtemp())
    onnx_path = export_onnx(space.build(arch, res), shape, d / "net.onnx")
    spec = get_target("x86", mcpu=system_cpu())
    mod, _ = import_model(onnx_path, shape)
    lowered = lower_relax(mod, spec, "lutnas-cpu")
    kernels = enumerate_kernels(lowered, shape, "lutnas-cpu")
    ex = compile_lowered(lowered, spec)
    lib = export_module(ex.mod.imports[0], d / "k.so", spec)
    klib = tvm.runtime.load_module(str(lib))
    dev = tvm.cpu()
    vm = relax.VirtualMachine(ex, dev)
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"), dev)
    params = []
    def net_ms():
        f = vm.time_evaluator("main", dev, number=20, repeat=1)
        return f(x).mean * 1e3
    def sums(mode):
        tot = 0.0
        for info, calls in zip(kernels.kernels, kernels.calls):
            job = KernelJob(info.signature, lib, info.name, [p.shape for p in info.params], [p.dtype for p in info.params],
                            cache_mode=mode, repeats=5, min_repeat_ms=0.0)
            m = time_kernel(klib, dev, job)
            tot += float(np.median(m.samples_ms)) * calls
        return tot
    net_ms()
    rows = []
    for r in range(3):
        n = net_ms(); h = sums("hot"); fl = sums("flush"); n2 = net_ms()
        rows.append((n, n2, h, fl))
        print(f"net {n:.3f}/{n2:.3f} ms  kernels hot {h:.3f} ms (x{(n+n2)/2/h:.3f})  flushed {fl:.3f} ms (x{(n+n2)/2/fl:.3f})  kernels={len(kernels.kernels)} calls={sum(kernels.calls)}", flush=True)
if __name__ == "__main__":
    main()
