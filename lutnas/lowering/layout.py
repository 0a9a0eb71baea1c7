"""Channels-last (NHWC) networks for the CPU pipeline: the graph rewrite before legalization.

Why: onnxruntime's MLAS runs a whole network with channels innermost (NCHWc), so every depthwise
convolution is a channel-vector loop and a stride is only an address offset. lutnas's NCHW rules
had that only inside narrow-plane kernels, and a stride-2 depthwise paid a de-interleaving copy per
channel plane (`bench/kernel_vs_ort.py`: each layer of an MBConv alone at or ahead of onnxruntime,
the block 1.45x behind). Converting the network to NHWC once gives every convolution a contiguous
channel axis (Relax's `ConvertLayout`; TOPI legalizes NHWC/HWIO convolutions), and the NHWC rules
(`rules.nhwc`) vectorize over it.

One obstacle: TVM's ONNX frontend lowers `Clip` to opaque `call_tir`s of TOPI's max/min (and
HardSwish/HardSigmoid to `relax.clip`), which have no layout rule, so ConvertLayout would wrap every
ReLU6 in two transposes that also stop FuseOps from fusing it into its convolution.
`clip_as_relax_ops` rewrites those into `relax.maximum` / `relax.minimum` with a scalar constant,
which follow any layout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

# Relax ConvertLayout's desired layouts: data NHWC; weights HWIO, so a 1x1 conv's weight row for one
# input channel (and a depthwise tap's weights) are contiguous across output channels.
CHANNELS_LAST = {"relax.nn.conv2d": ["NHWC", "HWIO"]}

LAYOUTS = ("NCHW", "NHWC")


def layout_passes(layout: str, graph_rewrites: Sequence[Any] = ()) -> list[Any]:
    """The Relax passes that put an imported network into `layout` (nothing for NCHW, ONNX's own);
    `graph_rewrites` run on the NCHW graph right before the layout changes, its bias constants folded
    and its Clips Relax ops by then."""
    if layout not in LAYOUTS:
        from lutnas.errors import UnknownNameError

        raise UnknownNameError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    if layout == "NCHW":
        return []
    from tvm import relax

    from lutnas.lowering.fold import fold_in_numpy

    return [
        fold_in_numpy(),  # Clip's bounds arrive as where(isnan(c), inf, c)
        clip_as_relax_ops(),
        *graph_rewrites,
        relax.transform.ConvertLayout(CHANNELS_LAST),
        cancel_inverse_permutes(),
    ]


def cancel_inverse_permutes() -> Any:
    """A module pass: `permute_dims(permute_dims(x, a), b)` whose axes compose to the identity, and a
    `permute_dims` to the same order (ConvertLayout's rewrite of such a pair), become `x`.

    ConvertLayout puts a transpose to NHWC before the first convolution and one back to NCHW after
    the last. A model whose own input and output are already channels-last (a latency-table block
    exported with the network's channels-last boundaries, `latency_tables.jobs`) starts and ends with
    the inverse transposes; without this pass they would become copy kernels a network never runs.
    """
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasCancelInversePermutes")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return rewrite_functions(mod, _permute_canceller())

    return _pass


def _permute_canceller() -> Any:
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    permute = tvm.ir.Op.get("relax.permute_dims")
    binary = {tvm.ir.Op.get(f"relax.{name}"): getattr(relax.op, name)
              for name in ("add", "subtract", "multiply", "maximum", "minimum")}

    @mutator
    class _Canceller(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            call = super().visit_call_(call)
            op = next((make for key, make in binary.items() if call.op.same_as(key)), None)
            if op is not None:   # op(permute(a, p), permute(b, p)) -> permute(op(a, b), p): sinks a residual's transposes
                lhs, rhs = (bound_value(self, arg) for arg in call.args)
                if all(isinstance(e, relax.Call) and e.op.same_as(permute) for e in (lhs, rhs)) \
                        and _axes(lhs) == _axes(rhs) and _axes(lhs) is not None:
                    return relax.op.permute_dims(op(lhs.args[0], rhs.args[0]), _axes(lhs))
                return call
            if not call.op.same_as(permute):
                return call
            axes = _axes(call)
            if axes is not None and axes == sorted(axes):   # permute_dims to the same order
                return call.args[0]
            inner = bound_value(self, call.args[0])
            if not (isinstance(inner, relax.Call) and inner.op.same_as(permute)):
                return call
            first, second = _axes(inner), _axes(call)
            if first is None or second is None or [first[i] for i in second] != list(range(len(second))):
                return call
            return inner.args[0]

    return _Canceller()


def _axes(call: Any) -> list[int] | None:
    axes = call.attrs.axes
    return None if axes is None else [int(a) for a in axes]


def global_pools_as_means() -> Any:
    """A module pass: a 2-D average pool whose window is the whole plane (no padding), and an adaptive
    one to 1x1, become `mean` over the plane's axes (keepdims): the same numbers.

    Why: TOPI legalizes pools as already-scheduled loop nests (scalar sums, which lutnas's rules never
    see): an ONNX AveragePool over a whole 32x32x32 NCHW plane ran 10-20 µs where the same `mean`,
    scheduled by the row-reduction rule (or channels-last by the NHWC one), runs 1-2 µs.
    """
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasGlobalPoolsAsMeans")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return rewrite_functions(mod, _global_pool_rewriter())

    return _pass


def _global_pool_rewriter() -> Any:
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    avg_pool, adaptive = tvm.ir.Op.get("relax.nn.avg_pool2d"), tvm.ir.Op.get("relax.nn.adaptive_avg_pool2d")

    @mutator
    class _Rewriter(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            call = super().visit_call_(call)
            if not (call.op.same_as(avg_pool) or call.op.same_as(adaptive)):
                return call
            layout, dims = str(call.attrs.layout), static_dims(call.args[0])
            if layout != str(call.attrs.out_layout) or layout not in LAYOUTS or dims is None:
                return call
            axes = (layout.index("H"), layout.index("W"))
            if not _covers_plane(call, [dims[a] for a in axes], call.op.same_as(adaptive)):
                return call
            return relax.op.mean(call.args[0], axis=list(axes), keepdims=True)

    return _Rewriter()


def shape_4d(expr: Any) -> Any:
    """The shape of a 4-D tensor expression (its dimensions may be symbolic), else None."""
    info = getattr(expr, "ty", None)
    shape = getattr(info, "shape", None)
    return shape if shape is not None and getattr(info, "ndim", -1) == 4 else None


def static_shape(expr: Any) -> list[int] | None:
    """The dimensions of a tensor expression of static shape (any rank), else None."""
    shape = getattr(getattr(expr, "ty", None), "shape", None)
    try:
        return None if shape is None else [int(d) for d in shape]
    except (TypeError, ValueError):
        return None


def static_dims(expr: Any) -> list[int] | None:
    """The dimensions of a 4-D tensor expression of static shape, else None."""
    return static_shape(expr) if shape_4d(expr) is not None else None


def _covers_plane(call: Any, plane: list[int], adaptive: bool) -> bool:
    attrs = call.attrs
    if adaptive:
        return attrs.output_size is not None and [int(v) for v in attrs.output_size] == [1, 1]
    return ([int(v) for v in attrs.pool_size] == plane and all(int(v) == 0 for v in attrs.padding)
            and all(int(v) == 1 for v in attrs.dilation))


def clip_as_relax_ops() -> Any:
    """A module pass: `call_tir(max|min, (x, c))` with a 0-d constant `c`, and `relax.clip`, become
    `relax.maximum` / `relax.minimum` (which ConvertLayout and FuseOps see through)."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasClipAsRelaxOps")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return rewrite_functions(mod, _clip_rewriter(mod))

    return _pass


def bound_values_and_uses(mod: Any) -> tuple[dict[Any, Any], Counter]:
    """What each variable of `mod`'s Relax functions is bound to, and how many times each is read (by
    a binding or as a result): the facts graph rewrites match single-use chains by (variables are
    unique across functions)."""
    from tvm import relax

    funcs = [f for _, f in mod.functions_items() if isinstance(f, relax.Function)]
    values = {b.var: b.value for f in funcs for block in f.body.blocks for b in block.bindings}
    return values, _variable_uses(funcs)


def _variable_uses(funcs: list[Any]) -> Counter:
    """How many times each variable of `funcs` is read (by a binding or as a result)."""
    from tvm import relax

    uses: Counter = Counter()

    def count(expr: Any) -> None:
        if isinstance(expr, relax.Var):
            uses[expr] += 1
        elif isinstance(expr, relax.Call):
            for arg in expr.args:
                count(arg)
        elif isinstance(expr, relax.Tuple):
            for field in expr.fields:
                count(field)
        elif isinstance(expr, relax.TupleGetItem):
            count(expr.tuple_value)

    for func in funcs:
        for block in func.body.blocks:
            for binding in block.bindings:
                count(binding.value)
        count(func.body.body)
    return uses


def rewrite_functions(mod: Any, rewriter: Any) -> Any:
    """`mod` with every Relax function visited by `rewriter` (a PyExprMutator), dead bindings dropped."""
    from tvm import relax

    for gvar, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            mod[gvar] = rewriter.visit_expr(func)
    return relax.transform.DeadCodeElimination()(mod)


def bound_value(mutator: Any, expr: Any) -> Any:
    """What a dataflow variable is bound to in `mutator`'s current function (`expr` itself otherwise)."""
    from tvm import relax

    if isinstance(expr, relax.Var) and mutator.lookup_binding(expr) is not None:
        return mutator.lookup_binding(expr)
    return expr


def _clip_rewriter(mod: Any) -> Any:
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    call_tir, clip = tvm.ir.Op.get("relax.call_tir"), tvm.ir.Op.get("relax.clip")

    @mutator
    class _Rewriter(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            call = super().visit_call_(call)
            if call.op.same_as(call_tir) and isinstance(call.args[0], tvm.ir.GlobalVar):
                rewritten = self._min_max(call)
                return call if rewritten is None else rewritten
            if call.op.same_as(clip):
                x, lo, hi = call.args
                dtype = x.ty.dtype
                low = relax.op.maximum(x, relax.const(_number(lo), dtype))
                return relax.op.minimum(low, relax.const(_number(hi), dtype))
            return call

        def _min_max(self, call: Any) -> Any:
            kind = min_max_kind(mod[call.args[0]])
            fields = call.args[1].fields
            if kind is None or len(fields) != 2:
                return None
            bound = bound_value(self, fields[1])
            if not isinstance(bound, tvm.ir.expr.Constant) or len(bound.value.shape) != 0:
                return None
            op = relax.op.maximum if kind == "max" else relax.op.minimum
            return op(fields[0], bound)

    return _Rewriter()


def _number(arg: Any) -> float:
    """A clip bound: an IntImm/FloatImm, or a PrimValue wrapping one."""
    value = arg.value
    return float(getattr(value, "value", value))


def min_max_kind(func: Any) -> str | None:
    """'max' or 'min' when `func` is the PrimFunc out[i] = max|min(x[i], c[]) with a 0-d `c`."""
    from tvm import tirx

    if not isinstance(func, tirx.PrimFunc) or len(func.params) != 3:
        return None
    stores = _buffer_stores(func.body)
    if len(stores) != 1:
        return None
    value = stores[0].value
    kind = {"Max": "max", "Min": "min"}.get(type(value).__name__)
    operands = (getattr(value, "a", None), getattr(value, "b", None))
    if kind is None or not all(hasattr(o, "indices") for o in operands):
        return None
    if len(operands[1].indices) != 0:  # the bound: a 0-d buffer, the second operand as TOPI writes it
        return None
    return kind


def _buffer_stores(stmt: Any) -> list[Any]:
    """Every BufferStore under `stmt` (loops, blocks and sequences; TVM 0.27 has no Python visitor)."""
    from tvm import tirx

    if isinstance(stmt, tirx.BufferStore):
        return [stmt]
    found = []
    for attr in ("block", "body", "seq"):
        child = getattr(stmt, attr, None)
        if child is None:
            continue
        for sub in child if attr == "seq" else [child]:
            found += _buffer_stores(sub)
    return found
