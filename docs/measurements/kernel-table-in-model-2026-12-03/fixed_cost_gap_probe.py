import os, sys, json
os.environ["TVM_NUM_THREADS"] = "1"
sys.path.insert(0, "/work/main/bench")
from pathlib import Path
from collections import Counter
import numpy as np, tvm
from tvm.runtime.vm import VirtualMachine
from kernel_table_accuracy import export_models
from lutnas.latency_tables.kernel_table import compile_models, read_models
from lutnas.lowering.pipeline import resolve_build
def main():
    s = json.load(open("/tmp/k14/run7/summary.json"))
    rows = {r["model"]: r for r in s["goal_measured"]["in-model/probes"]["rows"]}
    models = export_models(["resnet", "shufflenet", "vit", "mobilenet", "vgg", "mixer"], 2, [32, 64], Path("/tmp/k14/run7"))
    b = resolve_build("x86")
    ms = read_models([p for _, p in models.values()])
    pts = []
    for m, (lib, mk) in zip(ms, compile_models(ms, b.target, b.pipeline)):
        vm = VirtualMachine(tvm.runtime.load_module(str(lib)), tvm.cpu())
        seen = []
        vm.set_instrument(lambda f, n, before, r, *a: (seen.append(n) if before else None) or 0)
        vm["main"](tvm.runtime.tensor(np.zeros(mk.input_shape, "float32"), tvm.cpu()))
        c = Counter(seen)
        r = rows[m.name]
        gap = (r["measured"] - r["predicted"]) * 1e3
        pts.append((c["vm.builtin.alloc_storage"], mk.vm_calls, gap))
        print(f"{m.name:16s} gap {gap:+6.2f} us  storages {c['vm.builtin.alloc_storage']}  allocs {c['vm.builtin.alloc_tensor']}  vm_calls {mk.vm_calls}  measured {r['measured']*1e3:.1f} us")
    a = np.array(pts)
    small = a[:, 2] < 50
    print("corr(gap, storages) small models:", np.corrcoef(a[:, 0], a[:, 2])[0, 1])
if __name__ == "__main__":
    main()
