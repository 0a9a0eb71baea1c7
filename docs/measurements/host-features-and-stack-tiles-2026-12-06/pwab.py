"""1x1 kernels in-model, TVM's 1 KB stack limit vs accumulators up to 2 KB as allocas:
python pwab.py SPACE INDEX THREADS ROUNDS VARIANT
VARIANT retile: tiles re-chosen for the larger stack array; keep: tiles as before, the larger ones
annotated and prefetching their next weight strip."""
import os, sys
os.environ["TVM_NUM_THREADS"] = sys.argv[3]
sys.path.insert(0, "/work/main/bench"); sys.path.insert(0, "/tmp/probe")
from pathlib import Path
from contextlib import ExitStack, contextmanager
from unittest.mock import patch
import numpy as np, tvm
import kernel_roofline as kr
import bigstack
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.rules import base
from lutnas.spaces import get_space
from lutnas.profiler.runners import LocalRunner

@contextmanager
def mode_ctx(m):
    from tvm.s_tir.pipeline import default_s_tir_pipeline
    with ExitStack() as st:
        if m == "big":
            def factory():
                pipe, fin_host, fin_dev = default_s_tir_pipeline()
                return pipe, (lambda: tvm.ir.transform.Sequential([bigstack.annotate(2048), fin_host()])), fin_dev
            st.enter_context(patch.dict(tvm.tirx.compilation_pipeline.PIPELINE_MAP, {"s_tir": factory}))
            if variant == "retile":
                st.enter_context(patch.object(base, "STACK_ARRAY_BYTES", 2048))
            else:
                from lutnas.lowering.rules import nhwc
                orig = nhwc.prefetches_strips
                st.enter_context(patch.object(nhwc, "prefetches_strips",
                                              lambda flat, fo, sb, on_stack: orig(flat, fo, sb, True)))
        yield

space, index, threads, rounds, variant = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sp = get_space(space); rng = np.random.default_rng(0)
arch = [sp.sample(rng) for _ in range(index + 1)][-1]
target = get_target("x86", num_cores=threads, **host_cpu_options())
shape = (1, 3, 224, 224)
work = Path(f"/tmp/probe/pwab/{space}{index}-{threads}"); work.mkdir(parents=True, exist_ok=True)
onnx = export_onnx(sp.build(arch, 224), shape, work / "net.onnx")
modes = ("base", "big")
ks = {}
for m in modes:
    d = work / m; d.mkdir(exist_ok=True)
    with mode_ctx(m):
        ks[m] = kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 20, d, "in-model")
runner = LocalRunner(target, "tvm", threads)
res = {m: [] for m in modes}
for r in range(rounds):
    for m in (modes if r % 2 == 0 else modes[::-1]):
        res[m].append({w.name: w.ms for w in kr.time_tvm(ks[m], runner, f"{m} {r}")})
assert [k.shape for k in ks["base"]] == [k.shape for k in ks["big"]], "kernel lists differ"
rename = {kp.name: kh.name for kh, kp in zip(ks["base"], ks["big"])}
res["big"] = [{rename[n]: v for n, v in x.items()} for x in res["big"]]
names = [k.name for k in ks["base"]]
ratios = [sum(res["big"][r][k.name] * k.calls for k in ks["base"]) / sum(res["base"][r][k.name] * k.calls for k in ks["base"]) for r in range(rounds)]
print("summed big/base per round:", " ".join(f"{x:.3f}" for x in ratios), "median", f"{np.median(ratios):.3f}")
med = {m: {n: float(np.median([x[n] for x in res[m]])) for n in names} for m in modes}
for k in sorted(ks["base"], key=lambda k: -med["base"][k.name] * k.calls)[:30]:
    h, p = med["base"][k.name] * 1e3, med["big"][k.name] * 1e3
    rr = np.median([res["big"][r][k.name] / res["base"][r][k.name] for r in range(rounds)])
    print(f"{k.calls} {k.kind:12s} {k.shape:34s} base {h:7.1f} big {p:7.1f} x{rr:.3f} {k.name[:40]}")
