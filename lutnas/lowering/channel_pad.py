"""Channel counts padded to whole vectors inside a channels-last network (Relax, before legalization).

Why: the NHWC rules vectorize over channels, and a register tile must be a whole number of vectors
dividing the channel count. On AVX-512 (16 floats a vector) the 24, 40, 72, 120, 184 and 552
channels common in all three spaces fall back to 8-lane vectors, half the machine: a 24->72 1x1
conv at 56x56 ran at 30% of one core's peak. onnxruntime's NCHWc16 layout pads channels to 16; so
does this pass, inside the network only: a convolution whose output channel count is not a multiple
of the target's vector is given zero filters up to the next multiple, and the padded tensor flows
through what is channel-local (bias adds, activations, depthwise convolutions, spatial means,
squeeze-excite gates) into the next convolution, whose weights get zero rows for the pad channels.
Anything else (a reshape, a transpose, a grouped convolution, the network's output) first slices the
pad off. The pad channels never reach a real one: every convolution reading a padded tensor has zero
weights for its pad channels, and the channel-local steps keep them finite (a divisor is padded with
ones).

A 1x1 convolution reading a padded tensor (an expansion reading a padded stage) gets no zero rows:
it reads the input's real channels (`SLICE_PAD_ROWS`, a slice that `lowering.channel_slices` merges
into its kernel and the rules read in place), which leaves a quarter of a 24-channel expansion's work
undone (x0.965 over 9 networks at 224 px, 1 thread). After a depthwise convolution, whose padded
channels are whole vectors, the zero rows stay.

Only counts that grow by at most a third are padded (24 -> 32, 40 -> 48, 72 -> 80, 184 -> 192; not
8 -> 16): the pad is work too.

Pads cross block boundaries, so a latency table's block, profiled alone with the network's NHWC
boundaries, runs a few kernels its network does not (an expansion reading 24 channels where the
network hands it 32, 8 of them zero). Keeping the pads inside each block, or slicing them at every
boundary, keeps the kernels identical but lost most of the gain (224 px, 1 thread, AVX-512: 1.079 /
1.137x onnxruntime against 1.025x); the covering networks' context absorbs the difference in the
validations measured (docs/measurements/artifact-vs-ort-xeon-2026-12-03.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lutnas.lowering.layout import bound_value, shape_4d

MAX_GROWTH = 1 / 3
SLICE_PAD_ROWS = True

_UNARY = ("nn.relu", "sigmoid", "tanh", "clip", "nn.silu", "nn.gelu", "exp", "negative")
_BINARY = ("add", "subtract", "multiply", "divide", "maximum", "minimum")


def padded_channels(channels: int, lanes: int) -> int:
    """`channels` rounded up to whole vectors of `lanes`, or `channels` itself when that would grow
    it by more than `MAX_GROWTH` (or it already is whole)."""
    whole = -(-channels // lanes) * lanes
    return whole if (whole - channels) <= MAX_GROWTH * channels else channels


def pad_channels(lanes: int) -> Any:
    """A module pass padding NHWC convolutions' output channels to whole vectors of `lanes`."""
    import tvm

    from lutnas.lowering.layout import rewrite_functions

    @tvm.transform.module_pass(opt_level=0, name="LutnasPadChannels")
    def _pass(mod: Any, _ctx: Any) -> Any:
        return rewrite_functions(mod, _padder(lanes))

    return _pass


def _channels(expr: Any) -> int | None:
    """The last dimension of a 4-d tensor expression (its NHWC channels), else None."""
    shape = shape_4d(expr)
    try:
        return None if shape is None else int(shape[3])
    except (TypeError, ValueError):
        return None


def _padder(lanes: int) -> Any:
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    conv = tvm.ir.Op.get("relax.nn.conv2d")
    mean = tvm.ir.Op.get("relax.mean")
    unary = [tvm.ir.Op.get(f"relax.{name}") for name in _UNARY]
    binary = {tvm.ir.Op.get(f"relax.{name}"): name for name in _BINARY}

    @mutator
    class _Padder(PyExprMutator):
        def visit_var_binding_(self, binding: Any) -> None:
            """A dataflow block's output keeps its channels: a padded one is sliced inside the block,
            where the slice fuses into the kernel that made it (outside a dataflow block, the
            function's result is sliced by `visit_seq_expr_`)."""
            c = _channels(binding.var)
            if c is None or isinstance(binding.var, relax.DataflowVar) or not self.builder_.current_block_is_dataflow():
                return super().visit_var_binding_(binding)
            value = self.visit_expr(binding.value)
            if _channels(value) in (None, c):
                return super().visit_var_binding_(binding)
            sliced = self.builder_.emit(_slice(value, c))
            self.set_var_remap(binding.var, self.builder_.emit_output(sliced, binding.var.name))
            return None

        def visit_seq_expr_(self, seq: Any) -> Any:
            """A function's result keeps its channels: a padded one is sliced back (a safeguard)."""
            new = super().visit_seq_expr_(seq)
            c = _channels(seq.body)
            if c is None or _channels(new.body) == c:
                return new
            return relax.SeqExpr(new.blocks, _slice(new.body, c))

        def visit_call_(self, call: Any) -> Any:
            args = [self.visit_expr(a) for a in call.args]   # not re-inferred yet: may not broadcast
            new = relax.Call(call.op, args, call.attrs, call.ty_args, call.span)
            if not isinstance(new.op, tvm.ir.Op):
                return _unpadded(call, new)
            pads = {i: (c, _channels(a)) for i, (o, a) in enumerate(zip(call.args, new.args))
                    if isinstance(a, relax.Expr) and (c := _channels(o)) is not None and _channels(a) != c}
            bound = [bound_value(self, a) for a in new.args]
            if new.op.same_as(conv):
                return _padded_conv(call, new, bound[1], pads, lanes, _from_depthwise(self, new.args[0], conv))
            if any(new.op.same_as(op) for op in unary) or (new.op.same_as(mean) and _spatial_mean(new)):
                return new
            name = next((n for op, n in binary.items() if new.op.same_as(op)), None)
            padded = _padded_binary(new, bound, name, pads) if name is not None and pads else None
            return _unpadded(call, new) if padded is None else padded

    return _Padder()


def _slice(expr: Any, channels: int) -> Any:
    from tvm import relax

    return relax.op.strided_slice(expr, axes=[3], begin=[0], end=[channels])


def _unpadded(call: Any, new: Any) -> Any:
    """`new` (the rewritten `call`) with every padded argument sliced back to its channels."""
    from tvm import relax

    args = [_slice(a, c) if (c := _channels(o)) is not None and _channels(a) not in (None, c) else a
            for o, a in zip(call.args, new.args)]
    if all(a.same_as(b) for a, b in zip(args, new.args)):
        return new
    return relax.Call(new.op, args, new.attrs, new.ty_args, new.span)


def _padded_conv(call: Any, new: Any, weight: Any, pads: dict[int, tuple[int, int]], lanes: int,
                 after_depthwise: bool) -> Any:
    """A convolution on its (maybe padded) input: a plain one gets zero filters up to whole vectors
    and reads only its real input channels (a 1x1, `SLICE_PAD_ROWS`) or has zero weight rows for the
    input's pad; a depthwise one as many channels as it is given."""
    import tvm
    from tvm import relax

    attrs = new.attrs
    if (attrs.data_layout, attrs.kernel_layout) != ("NHWC", "HWIO") \
            or not isinstance(weight, tvm.ir.expr.Constant) or 1 in pads:
        return _unpadded(call, new)
    w = weight.value.numpy()
    groups = int(attrs.groups)
    cin, cout = w.shape[2] * groups, w.shape[3]
    have = pads.get(0, (cin, cin))[1]
    data = new.args[0]
    if groups == 1:
        cout_p = padded_channels(cout, lanes)
        if have == cin and cout_p == cout:
            return new
        if SLICE_PAD_ROWS and have > cin and w.shape[:2] == (1, 1) and not after_depthwise:
            data, have = _slice(data, cin), cin
        w = np.pad(w, ((0, 0), (0, 0), (0, have - cin), (0, cout_p - cout)))
    elif groups == cin == cout and w.shape[2] == 1:
        if have == cin:
            return new
        w, groups = np.pad(w, ((0, 0), (0, 0), (0, 0), (0, have - cin))), have
    else:
        return _unpadded(call, new)
    return relax.op.nn.conv2d(data, relax.const(w), attrs.strides, attrs.padding, attrs.dilation,
                              groups, "NHWC", "HWIO", "NHWC", attrs.out_dtype)


def _from_depthwise(mutator: Any, expr: Any, conv: Any) -> bool:
    """Whether `expr` is a depthwise convolution's output, through its bias and activation (the
    first argument of each call back to a convolution)."""
    from tvm import relax

    for _ in range(8):
        value = bound_value(mutator, expr)
        if not isinstance(value, relax.Call) or not value.args:
            return False
        if value.op.same_as(conv):
            return int(value.attrs.groups) > 1
        expr = value.args[0]
    return False


def _padded_binary(new: Any, bound: list[Any], name: str, pads: dict[int, tuple[int, int]]) -> Any:
    """The op on padded operands: a constant of the real channels is padded (with ones as a divisor,
    zeros otherwise); a tensor that is not padded makes it give up (None)."""
    import tvm
    from tvm import relax

    widths = {have for _c, have in pads.values()}
    if len(widths) != 1 or (name == "divide" and 1 in pads):   # 0 / 0 in a pad lane: NaN, and NaN x 0 = NaN
        return None
    have, real = widths.pop(), {c for c, _have in pads.values()}.pop()
    args = []
    for i, (arg, value) in enumerate(zip(new.args, bound)):
        shape = getattr(getattr(arg, "ty", None), "shape", None)
        last = int(shape[-1]) if shape is not None and len(shape) else 1
        if i in pads or last == 1:
            args.append(arg)
            continue
        if last != real or not isinstance(value, tvm.ir.expr.Constant):
            return None
        data = value.value.numpy()
        fill = 1.0 if (name == "divide" and i == 1) else 0.0
        args.append(relax.const(np.pad(data, [(0, 0)] * (data.ndim - 1) + [(0, have - real)], constant_values=fill)))
    return relax.Call(new.op, args, new.attrs, new.ty_args, new.span)


def _spatial_mean(call: Any) -> bool:
    """A mean over H and W of an NHWC tensor (squeeze-excite, global pooling): channel-local."""
    axes = call.attrs.axis
    return axes is not None and sorted(int(a) for a in axes) == [1, 2] and bool(call.attrs.keepdims)
