"""One layer compiled under several rule variants, its largest kernel timed alone in interleaved
rounds (median of per-round ratios to the first variant); outputs checked against torch."""
import os, sys, tempfile, time
os.environ.setdefault("TVM_NUM_THREADS", "1")
from pathlib import Path
import numpy as np

def compile_variant(onnx_path, shape, rules):
    import tvm
    from lutnas.lowering.tvm_build import import_model, compile_lowered
    from lutnas.lowering.pipeline import cpu_pipeline
    from lutnas.lowering.targets import get_target, system_cpu
    from lutnas.lowering.kernels import enumerate_kernels
    spec = get_target("x86", mcpu=system_cpu())
    t = spec.tvm_target()
    mod, _ = import_model(onnx_path, shape)
    with t:
        lowered = cpu_pipeline(t, rules=rules)(mod)
    kernels = enumerate_kernels(lowered, shape, "lutnas-cpu")
    ex = compile_lowered(lowered, spec)
    lib = ex.mod.imports[0] if len(ex.mod.imports) else ex.mod
    best = max(kernels.kernels, key=lambda k: k.flops)
    global LAST_EX
    LAST_EX = ex
    return lib, best

def args_for(info, dev):
    import tvm
    rng = np.random.default_rng(0)
    out=[]
    for i,p in enumerate(info.params):
        sc = 1.0 if i in (0, len(info.params)-1) else 1/np.sqrt(max(1,np.prod(p.shape[:-1])))
        out.append(tvm.runtime.tensor((rng.standard_normal(p.shape)*sc).astype(p.dtype), dev))
    return out

def run(models, variants, rounds=7, number=None):
    import tvm, torch
    dev = tvm.cpu()
    for mname, net, shape in models:
        d = Path(tempfile.mkdtemp())
        path = d / "m.onnx"
        torch.onnx.export(net.eval(), torch.randn(*shape), str(path), input_names=["x"], dynamo=False)
        built = {}
        for vname, mk in variants:
            t0=time.time()
            lib, info = compile_variant(path, shape, mk())
            built[vname] = (lib, info, args_for(info, dev))
            from tvm import relax
            vm = relax.VirtualMachine(LAST_EX, dev)
            x = np.random.default_rng(1).standard_normal(shape).astype("float32")
            got = vm["main"](tvm.runtime.tensor(x, dev)).numpy()
            want = net(torch.from_numpy(x)).detach().numpy()
            err = np.abs(got-want).max() / (np.abs(want).max()+1e-9)
            if err > 1e-4: print(f"NUMERICS {mname} {vname}: rel err {err:.2e}", flush=True)
        # calibrate number
        times = {v: [] for v in built}
        for r in range(rounds):
            for v,(lib,info,a) in built.items():
                f = lib.time_evaluator(info.name, dev, number=1, repeat=3, min_repeat_ms=0); f(*a)
                n = number or max(1, int(0.05 / max(f(*a).mean, 1e-7)))
                res = lib.time_evaluator(info.name, dev, number=n, repeat=1, min_repeat_ms=0)(*a)
                times[v].append(res.mean*1e6)
        base = list(built)[0]
        for v in built:
            ratio = np.median(np.array(times[v])/np.array(times[base]))
            print(f"{mname:40s} {v:20s} {np.median(times[v]):9.1f} us  x{ratio:.3f} vs {base}  [{built[v][1].name}]", flush=True)
