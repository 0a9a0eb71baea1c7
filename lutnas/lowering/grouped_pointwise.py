"""Grouped 1x1 convolutions of two groups become dense ones, and a channel shuffle that follows a
convolution folds into the order of its output channels: the graph rewrite before the layout change.

Why: FBNet's "g2" blocks (and ShuffleNet-style units) run a 1x1 convolution of 2 groups, a channel
shuffle (reshape to groups x channels, transpose, reshape back), the depthwise, and another grouped
1x1. TVM makes the shuffle a kernel of its own, a gather across the channel vector that ran 109 µs on
fbnet's 112x112x16 plane at 224 px (its 1x1s around it: 73 µs), and a grouped 1x1 reaches 11-38% of
the core's peak where a dense one reaches 60-70% (`bench/kernel_roofline.py --space fbnet`). Written
as a dense convolution whose weights are zero across groups, the 1x1 does twice the multiply-adds at
that better rate, and a shuffle after it is only a permutation of its output channels: of its
weights' rows and of the per-channel constants between the convolution and the shuffle (bias,
activation bounds). The shuffle's kernel disappears, and the second 1x1, now dense, can join its
depthwise (`dw_pw_fusion`). Measured in one process with the fbnet blocks built both ways: an e1 g2
block 0.74x (112x112x16), 0.71x (56x56x24), 0.51x (7x7x184); whole fbnet networks at 224 px 0.95-0.97x.

Only two groups are densified (`MAX_GROUPS`): more groups would multiply the arithmetic by as many,
which these measurements do not cover. The rewrite runs on the NCHW graph as TVM's ONNX frontend
imports it, after constant folding (the bias is a constant) and before `ConvertLayout`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

MAX_GROUPS = 2
SHUFFLE_AXES = [0, 2, 1, 3, 4]   # reshape [n, g, c/g, h, w] -> these axes -> reshape [n, c, h, w]
_CHANNEL_BINARY = ("add", "subtract", "multiply", "divide", "maximum", "minimum")
_CHANNEL_UNARY = ("nn.relu", "nn.gelu", "nn.silu", "sigmoid", "tanh", "clip", "exp")


def dense_grouped_pointwise() -> Any:
    """A module pass: two-group 1x1 convolutions become dense, channel shuffles after a convolution
    become a permutation of its weights (module doc)."""
    import tvm

    from lutnas.lowering.layout import rewrite_functions

    @tvm.transform.module_pass(opt_level=0, name="LutnasDenseGroupedPointwise")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return rewrite_functions(mod, _rewriter(mod))

    return _pass


def dense_weights(weight: np.ndarray, groups: int) -> np.ndarray:
    """OIHW weights of a grouped convolution as a dense convolution's: zero outside each output
    channel's own group of input channels."""
    out_ch, per_group = weight.shape[:2]
    dense = np.zeros((out_ch, per_group * groups, *weight.shape[2:]), dtype=weight.dtype)
    per_out = out_ch // groups
    for o in range(out_ch):
        g = o // per_out
        dense[o, g * per_group:(g + 1) * per_group] = weight[o]
    return dense


def shuffle_order(channels: int, groups: int) -> np.ndarray:
    """Channel k after a shuffle of `groups` groups is channel order[k] before it."""
    k = np.arange(channels)
    return (k % groups) * (channels // groups) + k // groups


def _constant_nchw_conv(call: Any, conv_op: Any) -> bool:
    """An NCHW / OIHW / NCHW convolution with constant weights."""
    import tvm

    if not call.op.same_as(conv_op) or not isinstance(call.args[1], tvm.ir.expr.Constant):
        return False
    attrs = call.attrs
    return (str(attrs.data_layout), str(attrs.kernel_layout), str(attrs.out_layout)) == ("NCHW", "OIHW", "NCHW")


def _densifiable(call: Any, conv_op: Any) -> bool:
    """A constant NCHW 1x1 convolution of 2..MAX_GROUPS groups, several input channels per group
    (its weights' shape read without copying them)."""
    if not _constant_nchw_conv(call, conv_op):
        return False
    shape = [int(d) for d in call.args[1].value.shape]
    return 2 <= int(call.attrs.groups) <= MAX_GROUPS and shape[1] > 1 and shape[2:] == [1, 1]


def _dense_conv(call: Any, data: Any, order: np.ndarray | None = None) -> Any:
    """`call` (a conv2d `_constant_nchw_conv` accepts, dense or `_densifiable`) on `data` as a dense
    convolution, its output channels in `order` when given."""
    from tvm import relax

    attrs, weight = call.attrs, call.args[1].value.numpy()
    if int(attrs.groups) > 1:
        weight = dense_weights(weight, int(attrs.groups))
    if order is not None:
        weight = weight[order]
    return relax.op.nn.conv2d(data, relax.const(weight), attrs.strides, attrs.padding, attrs.dilation, 1,
                              "NCHW", "OIHW", "NCHW", attrs.out_dtype)


def _rewriter(mod: Any) -> Any:
    """The mutator of every Relax function of `mod`, with what each of their variables is bound to
    and how often it is read in the IR as imported (variables are unique across functions)."""
    import tvm
    from tvm.relax.expr_functor import PyExprMutator, mutator

    from lutnas.lowering.layout import bound_values_and_uses

    ops = {name: tvm.ir.Op.get(f"relax.{name}")
           for name in ("nn.conv2d", "reshape", "permute_dims", *_CHANNEL_BINARY, *_CHANNEL_UNARY)}
    values, uses = bound_values_and_uses(mod)

    @mutator
    class _Rewriter(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            folded = self._folded_shuffle(call)
            if folded is not None:
                return folded
            new = super().visit_call_(call)
            return _dense_conv(new, new.args[0]) if _densifiable(new, ops["nn.conv2d"]) else new

        def _folded_shuffle(self, call: Any) -> Any:
            """The convolution before a channel shuffle with its output channels in the shuffle's
            order, and the per-channel ops between them on it (`call`, the original IR's last
            reshape of a shuffle); None where the pattern does not hold."""
            found = _shuffle_source(call, values, uses, ops)
            if found is None:
                return None
            conv, chain, groups = found
            order = shuffle_order(int(conv.args[1].value.shape[0]), groups)
            expr = _dense_conv(conv, self.visit_expr(conv.args[0]), order)
            for link in chain:
                expr = _on_channels(link, expr, order)
            return expr

    return _Rewriter()


def _shuffle_source(call: Any, values: dict[Any, Any], uses: Counter, ops: dict[str, Any]
                    ) -> tuple[Any, list[Any], int] | None:
    """(convolution, per-channel ops after it in order, groups) when `call` ends a channel shuffle
    of a value that a chain of single-use per-channel ops computes from a convolution's output."""
    from tvm import relax

    if not call.op.same_as(ops["reshape"]):
        return None
    permute = values.get(call.args[0])
    if not (isinstance(permute, relax.Call) and permute.op.same_as(ops["permute_dims"])
            and permute.attrs.axes is not None and [int(a) for a in permute.attrs.axes] == SHUFFLE_AXES):
        return None
    split = values.get(permute.args[0])
    if not (isinstance(split, relax.Call) and split.op.same_as(ops["reshape"])):
        return None
    groups = _shuffle_groups(split, call)
    if groups is None or uses[call.args[0]] != 1 or uses[permute.args[0]] != 1:
        return None
    chain, var = [], split.args[0]
    while isinstance(var, relax.Var) and uses[var] == 1 and isinstance(values.get(var), relax.Call):
        value = values[var]
        if _is_conv_source(value, ops["nn.conv2d"]):
            return value, chain[::-1], groups
        if not _channel_op(value, ops):
            return None
        chain.append(value)
        var = value.args[0] if _operand_index(value) == 0 else value.args[1]
    return None


def _shuffle_groups(split: Any, merge: Any) -> int | None:
    """g when `split` reshapes [n, c, h, w] to [n, g, c/g, h, w] and `merge` reshapes back to [n, c, h, w]."""
    from lutnas.lowering.layout import static_shape

    dims = [static_shape(e) for e in (split.args[0], split, merge)]
    if any(d is None for d in dims):
        return None
    src, mid, out = dims
    if len(src) != 4 or len(mid) != 5 or out != src:
        return None
    n, c, h, w = src
    if mid[0] != n or mid[3:] != [h, w] or mid[1] * mid[2] != c or mid[1] < 2:
        return None
    return mid[1]


def _is_conv_source(value: Any, conv_op: Any) -> bool:
    """A convolution whose output channels may be reordered: dense, or one `_densifiable` makes dense."""
    return _constant_nchw_conv(value, conv_op) and (int(value.attrs.groups) == 1 or _densifiable(value, conv_op))


def _operand_index(value: Any) -> int:
    """Which argument of a per-channel op carries the tensor (the other is a constant)."""
    import tvm

    return 1 if len(value.args) > 1 and isinstance(value.args[0], tvm.ir.expr.Constant) else 0


def _channel_op(value: Any, ops: dict[str, Any]) -> bool:
    """An elementwise op of one tensor, or a binary op of a tensor and a constant that is a scalar or
    varies only along the channel axis (a bias, a scale, an activation bound)."""
    import tvm

    if any(value.op.same_as(ops[name]) for name in _CHANNEL_UNARY):
        return True
    if not any(value.op.same_as(ops[name]) for name in _CHANNEL_BINARY) or len(value.args) != 2:
        return False
    const = value.args[1 - _operand_index(value)]
    if not isinstance(const, tvm.ir.expr.Constant):
        return False
    shape = [int(d) for d in const.value.shape]
    return len(shape) == 0 or (len(shape) <= 4 and all(d == 1 for i, d in enumerate(shape[::-1]) if i != 2))


def _on_channels(link: Any, data: Any, order: np.ndarray) -> Any:
    """`link` (a per-channel op) applied to `data`, its constant's channels taken in `order`."""
    import tvm
    from tvm import relax

    index = _operand_index(link)
    args = []
    for i, arg in enumerate(link.args):
        if i == index:
            args.append(data)
        elif isinstance(arg, tvm.ir.expr.Constant) and len(arg.value.shape) >= 3 \
                and int(arg.value.shape[-3]) == len(order):
            args.append(relax.const(np.take(arg.value.numpy(), order, axis=-3)))
        else:
            args.append(arg)
    return relax.Call(link.op, args, link.attrs, link.ty_args, link.span)
