"""Wall time of each rule's apply over one network's functions: failed attempts (None / exception) vs the one that schedules."""
import os, sys, time, tempfile
from collections import defaultdict
from pathlib import Path
import lutnas.lowering.rules as R
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.targets import host_cpu_options
from lutnas.lowering.tvm_build import import_model, lower_relax
from lutnas.spaces import get_space, sample_archs
stats = defaultdict(lambda: [0, 0.0, 0, 0.0])
orig = R.apply_rules
def timed(func, target, rules):
    from tvm.s_tir import ScheduleError
    for rule in rules:
        t0 = time.perf_counter()
        try:
            sch = rule.apply(func, target, False)
        except (ScheduleError, ValueError, IndexError):
            sch = None
        dt = time.perf_counter() - t0
        s = stats[rule.name]
        if sch is not None:
            s[2] += 1; s[3] += dt
            return sch, rule.name
        s[0] += 1; s[1] += dt
    return None, None
R.apply_rules = timed
space_name, index = sys.argv[1], int(sys.argv[2])
arch = list(sample_archs(space_name, index + 1, 0))[-1]
onnx = export_onnx(get_space(space_name).build(arch, 224), (1, 3, 224, 224), Path(tempfile.mkdtemp()) / "n.onnx")
spec = get_target("x86", num_cores=1, **host_cpu_options())
mod, _ = import_model(onnx, (1, 3, 224, 224))
t0 = time.time(); lower_relax(mod, spec, "lutnas-cpu"); print(f"relax {time.time()-t0:.2f} s")
tf = sum(s[1] for s in stats.values()); ta = sum(s[3] for s in stats.values())
print(f"rules: refusals {tf:.2f} s, schedules {ta:.2f} s")
for name, (nf, tf_, na, ta_) in sorted(stats.items(), key=lambda kv: -(kv[1][1] + kv[1][3])):
    print(f"{name:34s} refused {nf:3d} in {tf_:5.2f} s   scheduled {na:3d} in {ta_:5.2f} s")
