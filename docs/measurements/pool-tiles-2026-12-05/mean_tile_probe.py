"""Global mean pool over NHWC planes: the row-reduction rule's vector tile, timed alone."""
import sys, numpy as np, tvm
from tvm import te, tirx
import lutnas.lowering.rules.elementwise as el
from lutnas.lowering import get_target
spec = get_target("x86", mcpu=str(tvm.target.codegen.llvm_get_system_cpu()))
tgt = spec.tvm_target()
def func(h, c):
    A = te.placeholder((1, h, h, c), name="A")
    rh = te.reduce_axis((0, h)); rw = te.reduce_axis((0, h))
    S = te.compute((1, 1, 1, c), lambda n, i, j, k: te.sum(A[n, rh, rw, k], axis=[rh, rw]), name="S")
    M = te.compute((1, 1, 1, c), lambda n, i, j, k: S[n, i, j, k] / float(h * h), name="M")
    return te.create_prim_func([A, M])
def timeit(h, c, tile):
    orig = el._vector_tile
    if tile: el._vector_tile = tile
    try:
        sch = el.RowReduction().apply(func(h, c), tgt, False)
    finally:
        el._vector_tile = orig
    lib = tvm.compile(sch.mod, target=tgt)
    dev = tvm.cpu()
    a = tvm.runtime.tensor(np.random.rand(1, h, h, c).astype("float32"), dev)
    m = tvm.runtime.tensor(np.zeros((1, 1, 1, c), "float32"), dev)
    lib(a, m)
    assert np.allclose(m.numpy().ravel(), a.numpy().mean((0, 1, 2)), rtol=1e-4)
    f = lib.mod.time_evaluator("main", dev, number=200, repeat=7)
    return np.median(f(a, m).results) * 1e6
def pow2(n, lanes):
    for d in (4 * lanes, 2 * lanes, lanes):
        if n % d == 0: return d
    return el._vector_tile(n, lanes)
for h, c in [(28, 144), (28, 128), (14, 336), (14, 672), (7, 672), (7, 480), (7, 640), (7, 960)]:
    print(h, c, "current %.2f us" % timeit(h, c, None), "pow2 %.2f us" % timeit(h, c, pow2))
