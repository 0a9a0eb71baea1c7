import os, sys, tempfile
os.environ.setdefault("TVM_NUM_THREADS", "1")
from pathlib import Path
import numpy as np
def main():
    import tvm
    from tvm import relax
    from lutnas.spaces import get_space
    from lutnas.lowering import export_onnx
    from lutnas.lowering.tvm_build import import_model, lower_relax
    from lutnas.lowering.targets import get_target, system_cpu
    space_name, res = sys.argv[1], int(sys.argv[2])
    space = get_space(space_name)
    arch = space.sample(np.random.default_rng(0))
    shape = (1, 3, res, res)
    d = Path(tempfile.mkdtemp())
    onnx_path = export_onnx(space.build(arch, res), shape, d / "net.onnx")
    spec = get_target("x86", mcpu=system_cpu()); t = spec.tvm_target()
    mod, _ = import_model(onnx_path, shape)
    lowered = lower_relax(mod, spec, "lutnas-cpu")
    dev = tvm.cpu()
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"), dev)
    vms = {}
    for mode in ("bytecode", "compiled"):
        ex = relax.build(lowered, target=t, relax_pipeline=tvm.transform.Sequential([]), exec_mode=mode)
        vms[mode] = relax.VirtualMachine(ex, dev)
    outs = {m: v["main"](x).numpy() for m, v in vms.items()}
    print("same output:", np.allclose(outs["bytecode"], outs["compiled"]))
    res_ = {m: [] for m in vms}
    for r in range(9):
        for m, v in vms.items():
            res_[m].append(v.time_evaluator("main", dev, number=30, repeat=1)(x).mean * 1e3)
    b = np.array(res_["bytecode"]); c = np.array(res_["compiled"])
    print(f"bytecode {np.median(b):.3f} ms  compiled {np.median(c):.3f} ms  ratio {np.median(c/b):.3f}")
if __name__ == "__main__":
    main()
