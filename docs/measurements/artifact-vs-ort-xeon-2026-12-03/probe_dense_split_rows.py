import sys; sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent))
from probe import run
import torch, tvm
from lutnas.lowering.rules import default_cpu_rules, RowReduction
from lutnas.lowering.rules import elementwise as ew
from lutnas.lowering.rules.base import largest_divisor, vectorize_inner, static_extents
orig = ew._axpy_gemv
PARTS = {"k": 8}
def split_k(sch, red, out, spatial, reduce_, n, inner, lanes, target):
    k = sch.fuse(*reduce_) if len(reduce_) > 1 else reduce_[0]
    K = int(sch.get(k).extent)
    parts = largest_divisor(K, PARTS["k"])
    g, kr = sch.split(k, factors=[parts, None])
    rf = sch.rfactor(g, factor_axis=0)
    loops = sch.get_loops(rf)   # unit..., j, g, kr
    *unit, j, g2, kr2 = loops
    rows = largest_divisor(K // parts, ew.GEMV_ROWS)
    kb, ku = sch.split(kr2, factors=[None, rows])
    jm, ji = sch.split(j, factors=[None, inner])
    sch.reorder(g2, *unit, kb, jm, ku, ji)
    outer = sch.fuse(g2, *unit) if unit else g2
    sch.parallel(outer)
    sch.unroll(ku)
    sch.vectorize(ji)
    vectorize_inner(sch, sch.decompose_reduction(rf, kb), lanes)
    # the final sum over the parts
    final = red
    *funit, fj, fg = sch.get_loops(final)
    sch.reorder(*funit, fg, fj)
    fjo, fji = sch.split(fj, factors=[None, inner])
    sch.vectorize(fji)
    init = sch.decompose_reduction(final, fg)
    vectorize_inner(sch, init, lanes)
    if out is not None:
        vectorize_inner(sch, out, lanes)
    return sch
class SplitK(RowReduction):
    def apply(self, func, target, tunable):
        ew._axpy_gemv = split_k
        try: return super().apply(func, target, tunable)
        finally: ew._axpy_gemv = orig
def variant(parts=8):
    def mk():
        PARTS["k"] = parts
        return [SplitK() if isinstance(r, RowReduction) else r for r in default_cpu_rules()]
    return mk
if __name__ == "__main__":
    models=[("dense 1984->1000", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1984,1000)), (1,1984,1,1)),
            ("dense 1280->1000", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1280,1000)), (1,1280,1,1)),
            ("dense 1024->1024", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1024,1024)), (1,1024,1,1))]
    run(models, [("default", default_cpu_rules), ("splitk8", variant(8)), ("splitk2", variant(2))], rounds=9)
