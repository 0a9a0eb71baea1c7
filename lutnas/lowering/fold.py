"""Constant folding in numpy: the network's weight transposes, reshapes and packing copies.

Why: Relax's `FoldConstant` evaluates every foldable call by building its PrimFunc with LLVM (one
JIT module per distinct function: ~0.1 s each) and running it. A `lutnas-cpu` network has a few
hundred of them -- the ONNX frontend's weight reshapes, the HWIO transposes `ConvertLayout` puts on
every convolution's weights, the rules' weight-packing copies (`rules.nhwc.pack_weights`) -- and
folding them took ~2/3 of a 224 px network's compile (`bench/compile_time.py`). Every one of them
only moves elements, which numpy does in microseconds:

- Relax operators on constants (`permute_dims`, `reshape` and its kin, `isnan`, `where`, `astype`)
  are computed with their numpy equivalent;
- `call_tir` of a PrimFunc that is one loop nest copying an input element to an output element
  (TOPI's transpose and reshape, a layout-rewrite preprocess) is evaluated by computing its index
  expressions over numpy index grids.

Anything else is left for `FoldConstant`, which runs after this pass and now has (almost) nothing to
build. `fold_in_numpy()` also drops the PrimFuncs no call refers to any more
(`drop_unreferenced_primfuncs`), so they are not compiled into the library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Evaluator = Callable[[Any, list[np.ndarray]], "np.ndarray | None"]


def fold_in_numpy() -> Any:
    """A module pass: constant calls of the kinds above become constants, unused PrimFuncs go."""
    import tvm
    from tvm import relax

    @tvm.transform.module_pass(opt_level=0, name="LutnasFoldInNumpy")
    def _pass(mod: Any, _ctx: Any) -> Any:
        folder = _folder(mod)
        for gvar, func in list(mod.functions_items()):
            if isinstance(func, relax.Function):
                mod[gvar] = relax.analysis.remove_all_unused(folder.visit_expr(func))
        return drop_unreferenced_primfuncs(relax.transform.DeadCodeElimination()(mod))

    return _pass


def drop_folded_functions() -> Any:
    """A module pass: `drop_unreferenced_primfuncs`, for after Relax's `FoldConstant`."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="LutnasDropFoldedFunctions")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return drop_unreferenced_primfuncs(mod)

    return _pass


def drop_unreferenced_primfuncs(mod: Any) -> Any:
    """`mod` without the PrimFuncs no Relax function refers to. Relax's dead code elimination keeps
    every function with a global symbol, so a layout-rewrite preprocess (`_weight_prepack`) whose call
    was folded stayed in the module and was compiled into the library: 2-4 functions and ~0.6 CPU-s
    of LLVM for a 224 px network (`docs/measurements/znver3-2026-12-07.md`)."""
    import tvm
    from tvm import relax, tirx

    used = {gv for _, func in mod.functions_items() if isinstance(func, relax.Function)
            for gv in relax.analysis.all_global_vars(func)}
    kept = {gv: func for gv, func in mod.functions_items() if not isinstance(func, tirx.PrimFunc) or gv in used}
    if len(kept) == len(mod.functions_items()):
        return mod
    return tvm.IRModule(kept, attrs=mod.attrs, global_infos=mod.global_infos)


def _folder(mod: Any) -> Any:
    import tvm
    from tvm.relax.expr_functor import PyExprMutator, mutator

    call_tir = tvm.ir.Op.get("relax.call_tir")

    @mutator
    class _Folder(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            call = super().visit_call_(call)
            if not isinstance(call.op, tvm.ir.Op):
                return call
            if call.op.same_as(call_tir):
                folded = self._call_tir(call)
            else:
                folded = self._relax_op(call)
            return call if folded is None else _constant(folded)

        def visit_var_(self, var: Any) -> Any:
            return self._constant_or(var, super().visit_var_(var))

        def visit_dataflow_var_(self, var: Any) -> Any:
            return self._constant_or(var, super().visit_dataflow_var_(var))

        def _constant_or(self, var: Any, other: Any) -> Any:
            bound = self.lookup_binding(var)
            return bound if isinstance(bound, tvm.ir.expr.GenericConst) else other

        def _call_tir(self, call: Any) -> np.ndarray | None:
            fields = call.args[1].fields if hasattr(call.args[1], "fields") else None
            values = None if fields is None else _values(fields)
            if values is None or not isinstance(call.args[0], tvm.ir.GlobalVar):
                return None
            return evaluate_copy(mod[call.args[0]], values)

        def _relax_op(self, call: Any) -> np.ndarray | None:
            evaluate = RELAX_OPS.get(call.op.name)
            if evaluate is None:
                return None
            tensors = [a for a in call.args if _is_tensor_arg(a)]
            values = _values(tensors)
            return None if values is None or not values else evaluate(call, values)

    return _Folder()


def _is_tensor_arg(arg: Any) -> bool:
    from tvm import relax

    return not isinstance(arg, relax.ShapeExpr) and type(arg).__name__ not in ("PrimValue", "StringImm")


def _values(args: Any) -> list[np.ndarray] | None:
    """The numpy values of `args` when every one is a constant, else None."""
    import tvm

    out = []
    for arg in args:
        if not isinstance(arg, tvm.ir.expr.GenericConst):
            return None
        out.append(arg.value.numpy())
    return out


def _constant(value: np.ndarray) -> Any:
    from tvm import relax

    value = np.array(value, copy=True, order="C")   # (np.ascontiguousarray makes a 0-d value 1-d)
    return relax.const(value, str(value.dtype))


def _out_shape(call: Any) -> tuple[int, ...] | None:
    shape = getattr(call.ty, "shape", None)
    try:
        return tuple(int(d) for d in shape.values) if shape is not None else None
    except (TypeError, AttributeError):  # a symbolic dimension
        return None


def _reshaped(call: Any, values: list[np.ndarray]) -> np.ndarray | None:
    shape = _out_shape(call)
    return None if shape is None else values[0].reshape(shape)


def _permuted(call: Any, values: list[np.ndarray]) -> np.ndarray:
    axes = call.attrs.axes
    return np.transpose(values[0], None if axes is None else [int(a) for a in axes])


def _cast(call: Any, values: list[np.ndarray]) -> np.ndarray:
    return values[0].astype(str(call.attrs.dtype))


def _where(call: Any, values: list[np.ndarray]) -> np.ndarray | None:
    return np.where(*values) if len(values) == 3 else None


RELAX_OPS: dict[str, Evaluator] = {
    "relax.permute_dims": _permuted,
    "relax.reshape": _reshaped,
    "relax.expand_dims": _reshaped,
    "relax.squeeze": _reshaped,
    "relax.flatten": _reshaped,
    "relax.isnan": lambda call, values: np.isnan(values[0]),
    "relax.where": _where,
    "relax.astype": _cast,
}


def evaluate_copy(func: Any, inputs: list[np.ndarray]) -> np.ndarray | None:
    """Run `func` on `inputs` in numpy when it is one loop nest `out[f(i)] = in[g(i)]` writing every
    output element (a transpose, reshape or layout rewrite); None for any other function."""
    nest = _copy_nest(func)
    if nest is None or len(func.params) != len(inputs) + 1:
        return None
    loops, store, bindings = nest
    loaded = store.value.source if hasattr(store.value, "source") else store.value.buffer
    source = next((k for k, p in enumerate(func.params[:-1]) if p.same_as(loaded)), None)
    if source is None or not store.buffer.same_as(func.params[-1]):
        return None
    shape = [int(d) for d in func.params[-1].shape]
    grids = dict(zip(loops, np.indices([extent for _, extent in loops.items()], dtype=np.int64)))
    env = {var: grids[var] for var in loops}
    try:
        env.update({var: index_value(value, env) for var, value in bindings})
        load = tuple(index_value(i, env) for i in store.value.indices)
        where = tuple(index_value(i, env) for i in store.indices)
    except KeyError:  # an expression this evaluator does not know
        return None
    out = np.zeros(shape, dtype=inputs[source].dtype)
    written = np.zeros(shape, dtype=bool)
    out[where] = inputs[source][load]
    written[where] = True
    return out if written.all() else None


def _copy_nest(func: Any) -> tuple[dict[Any, int], Any, list[tuple[Any, Any]]] | None:
    """({loop var: extent}, the BufferStore, [(block var, its binding)]) of a single perfect loop
    nest holding one block that copies one loaded element, or None."""
    from tvm import tirx

    stmt = getattr(func, "body", None)
    if _is_realize(stmt) and not stmt.block.iter_vars:   # the root block
        if stmt.block.alloc_buffers or stmt.block.match_buffers:
            return None
        stmt = stmt.block.body
    loops: dict[Any, int] = {}
    while isinstance(stmt, tirx.For):
        if not hasattr(stmt.extent, "value") or int(getattr(stmt.min, "value", -1)) != 0:
            return None
        loops[stmt.loop_var] = int(stmt.extent.value)
        stmt = stmt.body
    if not _is_realize(stmt) or not _is_true(stmt.predicate) or stmt.block.init is not None:
        return None
    block = stmt.block
    store = block.body
    if not isinstance(store, tirx.BufferStore) or type(store.value).__name__ not in ("TensorLoad", "BufferLoad"):
        return None
    bindings = [(iv.var, value) for iv, value in zip(block.iter_vars, stmt.iter_values)]
    return loops, store, bindings


def _is_realize(stmt: Any) -> bool:
    return type(stmt).__name__ == "SBlockRealize"


def _is_true(expr: Any) -> bool:
    return hasattr(expr, "value") and bool(expr.value)


_BINARY = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "FloorDiv": np.floor_divide,
    "FloorMod": np.mod, "Min": np.minimum, "Max": np.maximum,
}


def index_value(expr: Any, env: dict[Any, np.ndarray]) -> np.ndarray | int:
    """An integer index expression over loop variables, evaluated elementwise on numpy grids.
    `KeyError` for anything but variables, integers and + - * // % min max (and Div/Mod, which
    on the non-negative indices of a copy are the floor versions)."""
    kind = type(expr).__name__
    if kind == "IntImm":
        return int(expr.value)
    if kind in ("Var", "SizeVar"):
        for var, value in env.items():
            if var.same_as(expr):
                return value
        raise KeyError(kind)
    if kind == "Cast":
        return index_value(expr.value, env)
    op = _BINARY.get({"Div": "FloorDiv", "Mod": "FloorMod"}.get(kind, kind))
    if op is None:
        raise KeyError(kind)
    return op(index_value(expr.a, env), index_value(expr.b, env))
