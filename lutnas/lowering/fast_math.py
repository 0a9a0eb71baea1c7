"""Transcendental operators as polynomials the vector unit computes (exp, sigmoid, erf, tanh, softmax).

Why: TVM lowers `exp`, `erf`, `tanh` and `sigmoid` to LLVM's `llvm.exp.f32`-style intrinsics, which
LLVM vectorizes only with a vector math library, and TVM's CPU targets name none: every element
then pays a scalar libm call. Measured on the Xeon (AVX-512): a SiLU fused into a conv costs
~3.5 ns per output element, ten times the conv's own arithmetic per element, and GELU's erf doubles
a transformer MLP's matmul (docs/measurements/kernel-learned-terms-2026-12-03.md). TVM's
`topi.fast_exp` / `fast_erf` / `fast_tanh` are range-reduced polynomials in plain arithmetic (a
few ULP in float32), so they vectorize with the kernel they are fused into, as onnxruntime's
vectorized logistic and GELU kernels do.

`fast_math_legalize` is a `LegalizeOps` whose float32 exp / sigmoid / erf / tanh / softmax calls
take those forms; every other call (and other dtypes) legalizes as TVM's own rules do. The
`lutnas-cpu` pipelines run it (`pipeline.fusion_passes`); `tvm-default` stays TVM as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def fast_math_legalize() -> tvm.transform.Pass:
    """TVM's `LegalizeOps` with the float32 transcendentals of `FAST_OPS` as polynomials."""
    from tvm import relax

    return relax.transform.LegalizeOps(customize_legalize_map={op: _legalize_fast(op) for op in FAST_OPS})
