"""Transcendental operators as polynomials the vector unit computes (exp, sigmoid, erf, tanh, softmax).

Why: TVM lowers `exp`, `erf`, `tanh` and `sigmoid` to LLVM's `llvm.exp.f32`-style intrinsics, which
LLVM vectorizes only with a vector math library, and TVM's CPU targets name none: every element
then pays a scalar libm call. Measured on the Xeon (AVX-512): a SiLU fused into a conv costs
~3.5 ns per output element, ten times the conv's own arithmetic per element, and GELU's erf doubles
a transformer MLP's matmul (docs/measurements/kernel-learned-terms-2026-12-03.md). TVM's
`topi.fast_exp` / `fast_erf` / `fast_tanh` are range-reduced polynomials in plain arithmetic (a
few ULP in float32), so they vectorize with the kernel they are fused into, as onnxruntime's
vectorized logistic and GELU kernels do.

A float32 division by a constant scalar becomes a multiplication by its reciprocal. TVM's ONNX
import writes h-swish as `x * clip(x + 3, 0, 6) / 6` (ONNX defines HardSwish with alpha = 1/6, a
multiplication), and LLVM keeps a division by 6 a `vdivps` (no fast-math flags): ~10 cycles of one
port per vector where a multiply takes half of one. ofa-mbv3 has 347 of them in its kernels' code;
its 112 -> 672 expansion with h-swish spent 16% of its time in the epilogue that holds them (perf,
`docs/measurements/reciprocal-divide-2026-12-06.md`). x * (1/c) differs from x / c by at most
about one unit in the last place.

`fast_math_legalize` is a `LegalizeOps` whose float32 exp / sigmoid / erf / tanh / softmax calls
and divisions by a constant scalar take those forms; every other call (and other dtypes) legalizes
as TVM's own rules do. The `lutnas-cpu` pipelines run it (`pipeline.fusion_passes`); `tvm-default`
stays TVM as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import tvm
    from tvm import relax

# The Relax ops legalized here (float32 calls only).
FAST_OPS = ("relax.exp", "relax.sigmoid", "relax.erf", "relax.tanh", "relax.nn.softmax")


def _fast_sigmoid(x: tvm.te.Tensor) -> tvm.te.Tensor:
    from tvm import te, topi

    exp_neg = topi.fast_exp(topi.negative(x))
    return te.compute(x.shape, lambda *i: 1.0 / (1.0 + exp_neg(*i)), name="fast_sigmoid", tag="elemwise")


def _te_of(op_name: str, call: relax.Call) -> tuple[Callable, str]:
    from tvm import topi

    if op_name == "relax.nn.softmax":
        axis = int(call.attrs.axis)
        return (lambda x: topi.nn.fast_softmax(x, axis)), "fast_softmax"
    fast = {"relax.exp": topi.fast_exp, "relax.sigmoid": _fast_sigmoid, "relax.erf": topi.fast_erf,
            "relax.tanh": topi.fast_tanh}[op_name]
    return fast, f"fast_{op_name.rsplit('.', 1)[-1]}"


def _legalize_fast(op_name: str) -> Callable:
    import tvm

    default = tvm.ir.Op.get(op_name).get_attr("FLegalize")

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        if call.ty.dtype != "float32":
            return default(bb, call)
        te_func, name = _te_of(op_name, call)
        return bb.call_te(te_func, call.args[0], primfunc_name_hint=name)

    return legalize


# Whether a float32 division by a constant scalar legalizes as a multiplication by its reciprocal.
RECIPROCAL_DIVIDE = True


def reciprocal_of(divisor: np.ndarray) -> float | None:
    """1 / c for a one-element float32 divisor c whose reciprocal is a finite, normal float32, else
    None (the division stays)."""
    import numpy as np

    if divisor.size != 1 or divisor.dtype != np.float32 or divisor.flat[0] == 0:
        return None
    inverse = 1.0 / float(divisor.flat[0])
    finfo = np.finfo(np.float32)
    return float(np.float32(inverse)) if float(finfo.tiny) <= abs(inverse) <= float(finfo.max) else None


def _legalize_divide(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    """x * (1/c) where `reciprocal_of` allows it, the reciprocal in c's shape (a (1, 1, 1) divisor of a
    matrix broadcasts it to rank 3); else TVM's division."""
    import numpy as np
    import tvm
    from tvm import relax, topi

    divisor = call.args[1]
    value = divisor.value.numpy() if isinstance(divisor, tvm.ir.expr.Constant) else None
    inverse = reciprocal_of(value) if RECIPROCAL_DIVIDE and value is not None and call.ty.dtype == "float32" else None
    if inverse is None:
        return tvm.ir.Op.get("relax.divide").get_attr("FLegalize")(bb, call)
    return bb.call_te(topi.multiply, call.args[0], relax.const(np.full(value.shape, inverse, np.float32)),
                      primfunc_name_hint="multiply_reciprocal")


def fast_math_legalize() -> tvm.transform.Pass:
    """TVM's `LegalizeOps` with the float32 transcendentals of `FAST_OPS` as polynomials and float32
    divisions by a constant scalar as multiplications."""
    from tvm import relax

    legalize = {op: _legalize_fast(op) for op in FAST_OPS}
    legalize["relax.divide"] = _legalize_divide
    return relax.transform.LegalizeOps(customize_legalize_map=legalize)
