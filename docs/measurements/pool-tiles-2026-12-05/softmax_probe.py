import sys, time, numpy as np, tvm
from tvm import te, topi
from unittest.mock import patch
import lutnas.lowering.rules.softmax as smx
from lutnas.lowering import get_target
tgt=get_target('x86', mcpu=str(tvm.target.codegen.llvm_get_system_cpu())).tvm_target()
shape=tuple(int(v) for v in sys.argv[1].split(','))
x=te.placeholder(shape,name='x')
f=te.create_prim_func([x, topi.nn.fast_softmax(x, -1)])
def old_rows(sch, row_max, exp, row_sum, norm, lanes):
    from lutnas.lowering.rules.elementwise import lane_partial_sums, schedule_spatial
    for block in (row_max, row_sum):
        loops = sch.get_loops(block); ext = [int(sch.get(l).extent) for l in loops]
        lane_partial_sums(sch, block, None, loops[:-1], loops[-1:], ext[:-1], lanes, tgt)
    for block in (exp, norm):
        schedule_spatial(sch, block, tgt)
    return sch
libs = []
for variant in ("passes", "rows"):
    if variant == "passes":
        with patch.object(smx, "_row_by_row", old_rows):
            sch = smx.RowSoftmax().apply(f, tgt, False)
    else:
        sch = smx.RowSoftmax().apply(f, tgt, False)
    libs.append(tvm.compile(sch.mod, target=tgt).mod["main"])
rng=np.random.default_rng(0); xv=(rng.standard_normal(shape)*3).astype('float32')
a=tvm.runtime.tensor(xv); o=tvm.runtime.tensor(np.zeros(shape,'float32'))
e=np.exp(xv-xv.max(-1,keepdims=True)); ref=e/e.sum(-1,keepdims=True)
res=[[] for _ in libs]
for r in range(7):
    for i,f_ in enumerate(libs):
        f_(a,o); assert np.allclose(o.numpy(), ref, rtol=1e-4, atol=1e-6), i
        t=time.perf_counter()
        for _ in range(10): f_(a,o)
        res[i].append((time.perf_counter()-t)/10)
for v,r in zip(("passes","rows"),res): print(f"{shape} {v}: {np.median(r)*1e3:.3f} ms x{np.median(np.array(r)/np.array(res[0])):.3f}")
