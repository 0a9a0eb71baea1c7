"""The work one call of a kernel does, counted in its TIR: what the learned kernel model reads.

Why not TVM's FLOP estimate alone: it counts every arithmetic node once per iteration of every loop
around it, the multiply-adds of a conv and the polynomial of a fused activation alike, and it counts
no transcendental intrinsic at all. On a CPU these cost differently: a conv's multiply-adds run as
fused multiply-adds on full vectors; an epilogue's polynomial (lutnas-cpu's `fast_math` sigmoid or
erf) is a few dozen vector operations per element; an `exp` or `erf` intrinsic that LLVM cannot
vectorize is a scalar libm call per element. And code that does not depend on a loop is hoisted
out of it: a squeeze-excite gate's sigmoid, fused into the multiply over every pixel, depends on
the channel only and runs once per channel.

So every expression node is counted once per iteration of the loops it depends on (through block
and let bindings), and the counts are kept apart: transcendental intrinsic evaluations, arithmetic
inside reduction blocks, and all other arithmetic. Index arithmetic (buffer subscripts) is not work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lutnas.lowering.rules.base import REDUCE_ITER

# TIR intrinsics evaluated by a polynomial or a libm call per element, not one vector instruction.
TRANSCENDENTAL_INTRINSICS = frozenset({"exp", "exp2", "exp10", "erf", "tanh", "sigmoid", "log", "log2", "log10",
                                       "log1p", "sqrt", "rsqrt", "pow", "sin", "cos", "tan", "atan", "asin",
                                       "acos", "sinh", "cosh", "asinh", "acosh", "atanh"})
# Expression nodes that are one arithmetic operation.
ARITHMETIC_NODES = frozenset({"Add", "Sub", "Mul", "Div", "Mod", "FloorDiv", "FloorMod", "Min", "Max", "Select",
                              "EQ", "NE", "LT", "LE", "GT", "GE", "And", "Or", "Not", "Call"})
# Children of expression nodes that hold expressions (missing ones are skipped); BufferLoad's
# (TensorLoad's) `indices` are read for their loop dependence only.
_OPERANDS = ("a", "b", "value", "args", "condition", "true_value", "false_value", "base", "stride", "vectors")


@dataclass(frozen=True)
class KernelWork:
    transcendentals: int = 0    # transcendental intrinsic evaluations
    reduction_ops: int = 0      # arithmetic inside reduction blocks (a conv's or matmul's multiply-adds)
    elementwise_ops: int = 0    # all other arithmetic (epilogues, polynomials, copies' selects)

    def __add__(self, other: KernelWork) -> KernelWork:
        return KernelWork(self.transcendentals + other.transcendentals, self.reduction_ops + other.reduction_ops,
                          self.elementwise_ops + other.elementwise_ops)


def kernel_work(func: Any) -> KernelWork:
    """The `KernelWork` of one call of a (scheduled or not) PrimFunc."""
    return _Counter().stmt(func.body, {}, False)


@dataclass
class _Cost:
    ops: int            # arithmetic nodes x the iterations each runs
    transcendentals: int
    loop_vars: frozenset


class _Counter:
    def __init__(self) -> None:
        self.deps: dict[Any, frozenset] = {}     # block / let var -> the loop vars it is bound to

    def stmt(self, stmt: Any, loops: dict[Any, int], reduce: bool) -> KernelWork:
        kind = type(stmt).__name__
        if kind == "For":
            extent = int(stmt.extent.value) if hasattr(stmt.extent, "value") else 1
            return self.stmt(stmt.body, {**loops, stmt.loop_var: extent}, reduce)
        if kind == "SeqStmt":
            return sum((self.stmt(s, loops, reduce) for s in stmt.seq), KernelWork())
        if kind == "IfThenElse":
            other = self.stmt(stmt.else_case, loops, reduce) if stmt.else_case is not None else KernelWork()
            return self.stmt(stmt.then_case, loops, reduce) + other
        if kind == "SBlockRealize":
            block = stmt.block
            for iv, value in zip(block.iter_vars, stmt.iter_values):
                self.deps[iv.var] = self.expr(value, loops).loop_vars
            return self.stmt(block.body, loops, any(int(iv.iter_type) == REDUCE_ITER for iv in block.iter_vars))
        if kind == "LetStmt":
            self.deps[stmt.var] = self.expr(stmt.value, loops).loop_vars
            return self.stmt(stmt.body, loops, reduce)
        if kind in ("BufferStore", "TensorStore", "Evaluate"):
            cost = self.expr(stmt.value, loops)
            return KernelWork(cost.transcendentals, cost.ops if reduce else 0, 0 if reduce else cost.ops)
        return self.stmt(stmt.body, loops, reduce) if hasattr(stmt, "body") else KernelWork()

    def expr(self, expr: Any, loops: dict[Any, int]) -> _Cost:
        """Post-order: a node runs once per iteration of the loops its operands depend on."""
        import tvm

        if isinstance(expr, (list, tuple)) or type(expr).__name__ == "Array":
            return _combine([self.expr(item, loops) for item in expr])
        if not isinstance(expr, tvm.ir.Expr):
            return _Cost(0, 0, frozenset())
        kind = type(expr).__name__
        if kind in ("Var", "SizeVar"):
            return _Cost(0, 0, self.deps.get(expr, frozenset({expr}) if expr in loops else frozenset()))
        if kind in ("BufferLoad", "TensorLoad"):
            return _Cost(0, 0, self.expr(expr.indices, loops).loop_vars)
        cost = _combine([self.expr(getattr(expr, f), loops) for f in _OPERANDS if hasattr(expr, f)])
        runs = math.prod(loops.get(v, 1) for v in cost.loop_vars)
        if kind == "Call" and str(getattr(expr.op, "name", "")).rsplit(".", 1)[-1] in TRANSCENDENTAL_INTRINSICS:
            return _Cost(cost.ops, cost.transcendentals + runs, cost.loop_vars)
        return _Cost(cost.ops + (runs if kind in ARITHMETIC_NODES else 0), cost.transcendentals, cost.loop_vars)


def _combine(costs: list[_Cost]) -> _Cost:
    return _Cost(sum(c.ops for c in costs), sum(c.transcendentals for c in costs),
                 frozenset().union(*(c.loop_vars for c in costs)))
