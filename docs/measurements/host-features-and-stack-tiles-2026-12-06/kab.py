"""Kernels of one network in-model, two builds alternating: the default against one with patched constants.
python kab.py SPACE INDEX THREADS ROUNDS module.CONST=value[,module.CONST=value]  (value: a Python literal,
or fn:NAME for a function defined below)"""
import ast, importlib, os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from contextlib import ExitStack, contextmanager
from unittest.mock import patch
import numpy as np
import kernel_roofline as kr
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.spaces import get_space
from lutnas.profiler.runners import LocalRunner

FUNCS = {"two_vectors": lambda lanes: 2, "one_vector": lambda lanes: 1}

@contextmanager
def patched(spec):
    with ExitStack() as st:
        for item in filter(None, spec.split(",")):
            target, value = item.split("=")
            mod, const = target.rsplit(".", 1)
            v = FUNCS[value[3:]] if value.startswith("fn:") else ast.literal_eval(value)
            st.enter_context(patch.object(importlib.import_module(mod), const, v))
        yield

def compare(space, index, threads, rounds, patched_ctx, label):
    """Every kernel of the network in-model, the default build and the one built inside
    `patched_ctx()` alternating over `rounds`; prints the summed ratio and the top kernels."""
    sp = get_space(space); rng = np.random.default_rng(0)
    arch = [sp.sample(rng) for _ in range(index + 1)][-1]
    target = get_target("x86", num_cores=threads, **host_cpu_options())
    shape = (1, 3, 224, 224)
    work = Path(f"/tmp/probe/kab/{space}{index}-{threads}"); work.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(sp.build(arch, 224), shape, work / "net.onnx")
    modes = ("base", "patched")
    ks = {}
    for m in modes:
        d = work / m; d.mkdir(exist_ok=True)
        with patched_ctx() if m == "patched" else patched(""):
            ks[m] = kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 20, d, "in-model")
    runner = LocalRunner(target, "tvm", threads)
    res = {m: [] for m in modes}
    for r in range(rounds):
        for m in (modes if r % 2 == 0 else modes[::-1]):
            res[m].append({w.name: w.ms for w in kr.time_tvm(ks[m], runner, f"{m} {r}")})
    assert [k.shape for k in ks["base"]] == [k.shape for k in ks["patched"]], "kernel lists differ"
    rename = {kp.name: kh.name for kh, kp in zip(ks["base"], ks["patched"])}
    res["patched"] = [{rename[n]: v for n, v in x.items()} for x in res["patched"]]
    names = [k.name for k in ks["base"]]
    ratios = [sum(res["patched"][r][k.name] * k.calls for k in ks["base"]) / sum(res["base"][r][k.name] * k.calls for k in ks["base"]) for r in range(rounds)]
    print(label, "summed patched/base per round:", " ".join(f"{x:.3f}" for x in ratios), "median", f"{np.median(ratios):.3f}")
    med = {m: {n: float(np.median([x[n] for x in res[m]])) for n in names} for m in modes}
    for k in sorted(ks["base"], key=lambda k: -med["base"][k.name] * k.calls)[:int(os.environ.get("TOP", 12))]:
        h, p = med["base"][k.name] * 1e3, med["patched"][k.name] * 1e3
        rr = np.median([res["patched"][r][k.name] / res["base"][r][k.name] for r in range(rounds)])
        print(f"{k.calls} {k.kind:12s} {k.shape:34s} base {h:7.1f} patched {p:7.1f} x{rr:.3f} {k.name[:40]}")

if __name__ == "__main__":
    spec = sys.argv[5]
    compare(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), lambda: patched(spec), spec)
