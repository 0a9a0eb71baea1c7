"""Channels-last networks (lowering.layout) and the NHWC convolution rules (rules.nhwc).

Numerics of whole blocks in both layouts are in test_speed.py; here: the graph rewrite itself,
which rule takes which NHWC function, the register tiles, and the compile-time weight packing.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
tvm = pytest.importorskip("tvm")

from helpers import assert_same_outputs

from lutnas.errors import UnknownNameError
from lutnas.lowering import export_onnx, get_target
from lutnas.lowering.channel_pad import pad_channels, padded_channels
from lutnas.lowering.fold import fold_in_numpy
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.layout import layout_passes, min_max_kind
from lutnas.lowering.pipeline import build_pipeline, cpu_pipeline, fused_module
from lutnas.lowering.rules import (
    ChannelsLastConv,
    ChannelsLastDepthwise,
    ConvGEMM,
    DepthwiseConv,
    PixelGEMV,
    apply_rules,
    default_cpu_rules,
)
from lutnas.lowering.rules.base import analyse, row_stride
from lutnas.lowering.rules.conv import conv_parts
from lutnas.lowering.rules.nhwc import (
    GemmShape,
    depthwise_bands,
    depthwise_channel_vectors,
    fused_depthwise_channels,
    register_tile,
    tile_cycles,
)
from lutnas.spaces.blocks import Block, BlockSpec

AVX2 = get_target("x86", mcpu="znver1")


def _block_onnx(spec: str, hw: int, tmp_path) -> tuple[object, tuple[int, ...]]:
    bspec = BlockSpec.parse(spec)
    block = Block(bspec, (1, bspec.in_ch, hw, hw))
    return export_onnx(block.build(), block.input_shape, tmp_path / f"{spec}.onnx"), block.input_shape


def _calls(func) -> list[str]:
    """Names of the PrimFuncs a Relax function calls, in order."""
    return [gv.name_hint for gv in _globals(func.body)]


def _globals(expr) -> list:
    return _visited(expr, lambda e: isinstance(e, tvm.ir.GlobalVar))


def _visited(expr, keep) -> list:
    """The sub-expressions of a Relax `expr` for which `keep` is true, in post order."""
    from tvm import relax

    found = []
    relax.analysis.post_order_visit(expr, lambda e: found.append(e) if keep(e) else None)
    return found


def test_relu6_follows_the_layout_and_fuses_into_its_conv(tmp_path):
    """Clip (ReLU6) arrives from the ONNX frontend as opaque max/min PrimFuncs; after the rewrite
    ConvertLayout leaves one transpose in and one out, and every ReLU6 fuses into its conv."""
    path, shape = _block_onnx("mbconv_k5_e6_s2_i16_o24_g1_relu6", 16, tmp_path)
    mod = fused_module(path, shape, AVX2.tvm_target(), layout="NHWC")
    names = [gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert sum("transpose" in n for n in names) == 2, names
    relu6_convs = [n for n in names if n.startswith("fused_conv2d") and "maximum" in n and "minimum" in n]
    assert len(relu6_convs) == 2, names      # the expand and the depthwise conv carry their ReLU6
    assert not any(n.startswith(("maximum", "minimum", "fused_transpose")) for n in names), names
    nchw = fused_module(path, shape, AVX2.tvm_target(), layout="NCHW")
    assert not any("transpose" in gv.name_hint for gv, _f in nchw.functions_items())


def test_min_max_kind_reads_the_primfunc():
    from tvm import te, topi

    x = te.placeholder((1, 4, 2, 2), name="x")
    bound = te.placeholder((), name="c")
    assert min_max_kind(te.create_prim_func([x, bound, topi.maximum(x, bound)])) == "max"
    assert min_max_kind(te.create_prim_func([x, bound, topi.minimum(x, bound)])) == "min"
    assert min_max_kind(te.create_prim_func([x, bound, topi.add(x, bound)])) is None
    y = te.placeholder((1, 4, 2, 2), name="y")
    assert min_max_kind(te.create_prim_func([x, y, topi.maximum(x, y)])) is None   # not a scalar bound


def test_unknown_layout_is_one_named_error():
    with pytest.raises(UnknownNameError, match="NCHW, NHWC"):
        layout_passes("NCHWc")


@pytest.mark.parametrize("pixels, channels, depth, lanes, expected", [
    (4096, 96, 16, 8, (4, 24)),     # 12 accumulators: three vectors of channels, unrolled
    (4096, 16, 96, 8, (4, 16)),     # 16 channels: two vectors x 4 pixels
    (16, 1984, 352, 8, (4, 16)),    # 4x2 and 2x4 vectors tie, more pixels wins
    (16, 352, 1984, 8, (4, 16)),    # 44 vectors: not 11 x 1 pixel (load-bound)
    (49, 1984, 352, 8, (7, 8)),     # 7x7 head: 1 x 8 vectors re-read 90 KB of weights from L2
    (1, 672, 168, 8, (1, 96)),      # one pixel (squeeze-excite): 12 vectors of channels
    (64, 20, 32, 8, (8, 4)),        # channels not a whole vector: a power of two below it
])
def test_register_tile(pixels, channels, depth, lanes, expected):
    px, fv = register_tile(GemmShape(pixels, channels, depth, pixels <= channels), lanes, 12)
    assert (px, fv) == expected
    assert pixels % px == 0 and channels % fv == 0


def test_a_tile_whose_weights_stream_from_l2_keeps_as_many_pixels_as_vectors():
    """14x14 480 -> 80 on AVX2 (strips outermost, 153 KB of weights): 2 pixels x 5 vectors streams
    five weight vectors from L2 per two broadcasts and ran x1.25 the time of 4 x 2, which it tied
    with in `tile_cycles`; with weights that stay in L1 (a shallow 1x1) or with the rule off it is
    allowed, and a GEMV (one pixel) keeps its row of vectors."""
    from unittest.mock import patch

    from lutnas.lowering.rules import nhwc

    deep, shallow = GemmShape(196, 80, 480, True), GemmShape(196, 80, 16, True)
    assert register_tile(deep, 8, 12) == (4, 16)
    assert register_tile(shallow, 8, 12) == (2, 40)
    with patch.object(nhwc, "NARROW_STREAMING_TILES", False):
        assert register_tile(deep, 8, 12) == (2, 40)
    assert register_tile(GemmShape(1, 672, 168, True), 8, 12) == (1, 96)


def test_tile_cost_counts_weights_that_leave_l1():
    """Same FMAs and loads per step; only the strip of weights that no longer fits L1 costs more."""
    small, large = GemmShape(49, 1984, 32, True), GemmShape(49, 1984, 352, True)
    assert tile_cycles(small, 1, 8, 8) < tile_cycles(large, 1, 8, 8)
    assert tile_cycles(large, 7, 1, 8) < tile_cycles(large, 1, 8, 8)


@pytest.mark.parametrize("pixels, channels, depth, lanes, acc, expected", [
    (49, 1104, 184, 8, 12, (5, 16)),   # AVX2 at 7x7: 5 pixels x 2 vectors over 50, not 7 x 1 over 49
    (49, 184, 1104, 8, 12, (5, 16)),   # 23 vectors of channels: 24, in 12 strips of 2
    (49, 1104, 184, 16, 24, (7, 48)),  # AVX-512: 7 x 3 vectors divide and fill its registers
    (196, 672, 112, 8, 12, (4, 24)),   # 14x14: a dividing tile fills AVX2's as well
])
def test_a_padded_tile_where_no_dividing_tile_keeps_enough_fmas_in_flight(pixels, channels, depth, lanes, acc,
                                                                           expected):
    px, fv = register_tile(GemmShape(pixels, channels, depth, True), lanes, acc, pad=True)
    assert (px, fv) == expected
    assert px >= fv // lanes   # never more vectors than pixels
    assert register_tile(GemmShape(pixels, channels, depth, True), lanes, acc) != expected or (
        pixels % px == 0 and channels % fv == 0)


def test_seven_by_seven_gemms_compute_whole_padded_tiles_and_the_same_outputs(tmp_path):
    """224 px networks end on 7x7 planes (49 pixels: tiles of 1, 7 or 49). On AVX2 each of this
    block's 1x1 convs there computes 50 pixels in tiles of 5 x 2 vectors (the 50th from zeros), its
    epilogue writing the 49 real ones, and computes what it did unscheduled."""
    tgt = AVX2.tvm_target()
    path, shape = _block_onnx("mbconv_k3_e6_s1_i160_o160_g1_relu6", 7, tmp_path)
    funcs = [f for gv, f in fused_module(path, shape, tgt, layout="NHWC").functions_items()
             if isinstance(f, tvm.tirx.PrimFunc) and gv.name_hint.startswith("fused_conv2d")
             and not gv.name_hint.startswith("fused_conv2d1_")]
    assert len(funcs) == 2  # expand 160->960, project 960->160
    for func in funcs:
        sch = ChannelsLastConv().apply(func, tgt, False)
        pixels = sch.get(sch.get_sblock("conv2d_nhwc_update")).iter_vars[1]
        assert int(pixels.dom.extent) == 50
        assert_same_outputs(func, sch.mod["main"], tgt)


@pytest.mark.parametrize("hw, channels", [(7, 184), (8, 24)])
def test_a_pointwise_conv_without_bias_or_activation_builds_channels_last(hw, channels, tmp_path):
    """A bare 1x1 conv writes the function's output itself; the rule flattens its pixels and, at 7x7 on
    AVX2, pads them and 184 channels (23 vectors) to whole tiles. The build matches torch."""
    import numpy as np
    from tvm import relax

    from lutnas.lowering.tvm_build import compile_lowered, lower_relax

    net, shape = torch.nn.Conv2d(40, channels, 1, bias=False).eval(), (1, 40, hw, hw)
    path = export_onnx(net, shape, tmp_path / "bare.onnx")
    lib = compile_lowered(lower_relax(import_onnx(path, shape).mod, AVX2, "lutnas-cpu"), AVX2)
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    got = relax.VirtualMachine(lib, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    np.testing.assert_allclose(got, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def _the_depthwise(spec: str, hw: int, tgt, tmp_path) -> tuple:
    """(function, schedule) of the one NHWC function of a block that `ChannelsLastDepthwise` takes."""
    path, shape = _block_onnx(spec, hw, tmp_path)
    funcs = [f for _gv, f in fused_module(path, shape, tgt, layout="NHWC").functions_items()
             if isinstance(f, tvm.tirx.PrimFunc)]
    taken = [(f, sch) for f in funcs if (sch := ChannelsLastDepthwise().apply(f, tgt, False)) is not None]
    assert len(taken) == 1
    return taken[0]


@pytest.mark.parametrize("spec, hw", [
    ("mbconv_k3_e1_s2_i16_o16_g1_relu6", 9),    # odd plane, stride 2: the last window overhangs
    ("mbconv_k7_e3_s1_i16_o24_g1_relu6", 7),    # a window as wide as the plane: every tap tests bounds
    ("mbconv_k5_e6_s2_i8_o16_g1_relu6", 14),    # 48 channels: three vectors on AVX2, tiles of two
])
def test_depthwise_reads_its_input_in_place_and_computes_the_same(spec, hw, tmp_path):
    """The depthwise rule inlines the padding into the taps (no padded copy of the input): the
    border taps must read zeros, whatever the stride, window and plane."""
    tgt = AVX2.tvm_target()
    func, sch = _the_depthwise(spec, hw, tgt, tmp_path)
    blocks = [sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))]
    assert blocks and not any(name.startswith("pad") for name in blocks), blocks
    assert_same_outputs(func, sch.mod["main"], tgt, spec)


@pytest.mark.parametrize("kernel, stride, padding, hw, rows_out", [
    (3, 2, 1, 9, 5),    # in / out rows floored would say 1
    (3, 1, 0, 9, 7),    # in / out rows rounded up would say 2
    (5, 2, 2, 14, 7),
    (7, 1, 3, 7, 7),
])
def test_row_stride_is_read_from_the_conv_not_from_its_rows(kernel, stride, padding, hw, rows_out, tmp_path):
    """The depthwise rules size their bands and pick their loop order by the stride: it comes from the
    conv's input index, which a plane's in and out rows cannot always tell."""
    conv = torch.nn.Conv2d(16, 16, kernel, stride=stride, padding=padding, groups=16).eval()
    path = export_onnx(conv, (1, 16, hw, hw), tmp_path / "dw.onnx")
    tgt = AVX2.tvm_target()
    convs = [parts for _gv, f in fused_module(path, (1, 16, hw, hw), tgt).functions_items()
             if isinstance(f, tvm.tirx.PrimFunc) and (parts := analyse(f)) is not None and parts.kinds == "SSSSRRR"]
    assert len(convs) == 1
    parts = convs[0]
    assert parts.extents[1] == rows_out
    assert row_stride(parts.sch, parts.reduction) == stride


@pytest.mark.parametrize("spec, hw, cores", [
    ("mbconv_k5_e6_s2_i8_o16_g1_relu6", 14, 1),   # k5 at stride 2: every input row serves two output rows
    ("mbconv_k3_e3_s1_i16_o16_g1_relu6", 8, 2),   # one band of four rows per core
    ("mbconv_k7_e3_s1_i16_o24_g1_relu6", 7, 1),   # the window as wide as the plane
])
def test_depthwise_bands_walk_channel_vectors_outside_rows_and_compute_the_same(spec, hw, cores, tmp_path):
    """Built for known cores, a depthwise that reads each input row for several output rows runs one
    band of rows per core, each channel vector's rows in turn; its border taps still read zeros."""
    tgt = get_target("x86", mcpu="znver1", num_cores=cores).tvm_target()
    func, sch = _the_depthwise(spec, hw, tgt, tmp_path)
    conv = next(b for b in sch.get_child_blocks(sch.get_sblock("root")) if "conv" in sch.get(b).name_hint)
    parallel = [sch.get(lp) for lp in sch.get_loops(conv) if sch.get(lp).kind == tvm.tirx.ForKind.PARALLEL]
    assert [int(lp.extent) for lp in parallel] == [cores]
    assert_same_outputs(func, sch.mod["main"], tgt, spec)


def test_depthwise_bands_only_where_rows_share_input_rows_and_cores_divide_them():
    assert depthwise_bands(7, 2, 28, 1) == 1 and depthwise_bands(5, 2, 14, 2) == 2
    assert depthwise_bands(3, 1, 14, 2) == 2
    assert depthwise_bands(3, 2, 28, 1) == 0      # k3 at stride 2: an input row serves at most two rows
    assert depthwise_bands(3, 1, 7, 2) == 0       # two cores do not divide 7 rows: row by row
    assert depthwise_bands(7, 1, 28, None) == 0   # cores unknown: row by row, as before


def test_depthwise_tiles_hold_one_cache_line_of_channels_where_eight_pixels_fit():
    """16 channels a tile (one 64-byte line): one AVX-512 vector, two NEON vectors; AVX2's 8
    accumulators hold 8 pixels of one vector, not of two."""
    targets = (get_target("x86", mcpu="skylake-avx512"), AVX2, get_target("arm64"))
    assert [depthwise_channel_vectors(t.tvm_target()) for t in targets] == [1, 1, 2]


def test_a_depthwise_under_a_fused_tile_keeps_its_accumulators_within_half_the_registers():
    """Under a fused 1x1's tile of 8 pixels, AVX2's depthwise takes one vector of channels (8 x 1 of
    its 16 registers; two vectors filled all 16), also under 4 pixels (as a depthwise alone); AVX-512
    (8 x 1 of 32) and NEON (8 x 2 of 32) keep a depthwise's own choice; a narrow layer takes what its
    channels allow."""
    avx2, neon = AVX2.tvm_target(), get_target("arm64").tvm_target()
    avx512 = get_target("x86", mcpu="skylake-avx512").tvm_target()
    assert fused_depthwise_channels(96, 8, avx2) == 8 and fused_depthwise_channels(96, 7, avx2) == 8
    assert fused_depthwise_channels(96, 4, avx2) == 8
    assert fused_depthwise_channels(96, 8, avx512) == 16 and fused_depthwise_channels(96, 8, neon) == 8
    assert fused_depthwise_channels(4, 8, avx2) == 4


def test_each_nhwc_rule_takes_its_functions_only(tmp_path):
    tgt = AVX2.tvm_target()
    path, shape = _block_onnx("mbconv_k5_e6_s1_i16_o16_g1_se_hswish", 8, tmp_path)
    funcs = {gv.name_hint: f for gv, f in fused_module(path, shape, tgt, layout="NHWC").functions_items()
             if isinstance(f, tvm.tirx.PrimFunc)}
    convs = {n: f for n, f in funcs.items() if n.startswith("fused_conv2d")}
    depthwise = [f for n, f in convs.items() if n.startswith("fused_conv2d1_")]
    dense = [f for n, f in convs.items() if not n.startswith("fused_conv2d1_")]
    assert depthwise and len(dense) >= 3, sorted(funcs)   # expand, SE reduce and expand, project
    nchw = {gv.name_hint: f for gv, f in fused_module(path, shape, tgt, layout="NCHW").functions_items()
            if isinstance(f, tvm.tirx.PrimFunc) and gv.name_hint.startswith("fused_conv2d")}
    for func in dense:
        assert ChannelsLastConv().apply(func, tgt, False) is not None
        assert ChannelsLastDepthwise().apply(func, tgt, False) is None
    for func in depthwise:
        assert ChannelsLastDepthwise().apply(func, tgt, False) is not None
        assert ChannelsLastConv().apply(func, tgt, False) is None
    for func in dense + depthwise:  # the NCHW rules read the layout from the loop nest and refuse
        for rule in (PixelGEMV(), ConvGEMM(), DepthwiseConv()):
            assert rule.apply(func, tgt, False) is None, rule
    for func in nchw.values():
        for rule in (ChannelsLastConv(), ChannelsLastDepthwise()):
            assert rule.apply(func, tgt, False) is None, rule
    for name, func in funcs.items():   # every function, scheduled, computes what it did before
        sch, _rule = apply_rules(func, tgt, default_cpu_rules())
        assert_same_outputs(func, sch.mod["main"], tgt, name)


def test_matrix_products_and_softmax_take_their_rules_and_compute_the_same(tmp_path):
    """A transformer layer's projections, MLP (GELU epilogue) and both attention products are
    `[..., M, K] x [..., K, N]` matmuls: each gets the register-tiled GEMM rule, on token and feature
    counts that are not whole tiles (12 tokens, 24 features: three AVX2 vectors); its softmax gets
    the row rule; every function computes what it computed unscheduled."""
    import torch

    class Layer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv, self.mlp = torch.nn.Linear(24, 72), torch.nn.Sequential(
                torch.nn.Linear(24, 48), torch.nn.GELU(), torch.nn.Linear(48, 24))

        def forward(self, x):
            q, k, v = self.qkv(x).reshape(1, 12, 3, 2, 12).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
            x = x + att.transpose(1, 2).reshape(1, 12, 24)
            return x + self.mlp(x)

    path = export_onnx(Layer().eval(), (1, 12, 24), tmp_path / "layer.onnx")
    tgt = AVX2.tvm_target()
    funcs = {gv.name_hint: f for gv, f in fused_module(path, (1, 12, 24), tgt).functions_items()
             if isinstance(f, tvm.tirx.PrimFunc)}
    taken, rules = [], {}
    for name, func in funcs.items():
        sch, rules[name] = apply_rules(func, tgt, default_cpu_rules())
        assert_same_outputs(func, sch.mod["main"], tgt, name)
        taken += [name] if rules[name] == "matmul-gemm" else []
    assert [rule for name, rule in rules.items() if "softmax" in name] == ["row-softmax"]
    matmuls = [n for n in funcs if "matmul" in n]   # qkv, both attention products (one function), MLP x2
    assert len(matmuls) == 4 and sorted(taken) == sorted(matmuls), (sorted(funcs), taken)


def test_weights_are_packed_at_compile_time(tmp_path):
    """The 1x1 convs' weights are rewritten per register tile by a preprocess the pipeline splits
    off and folds into constants: the network calls the packed kernels, never the packing."""
    path, shape = _block_onnx("mbconv_k3_e6_s1_i16_o16_g1_relu6", 8, tmp_path)
    tgt = AVX2.tvm_target()
    mod = build_pipeline("lutnas-cpu", tgt)(import_onnx(path, shape).mod)
    calls = _calls(mod["main"])
    assert sum(name.endswith("_prepacked") for name in calls) == 2, calls   # expand and project
    assert not any(name.endswith("_weight_prepack") for name in calls), calls


def test_weight_copies_fold_in_numpy_as_tvm_runs_them():
    """`fold.evaluate_copy` computes a transpose, a reshape (floordiv/floormod indices) and a
    layout-rewrite packing exactly as the built PrimFunc does; a function that is not a pure copy
    (padding writes a constant where it loads nothing) is left to FoldConstant."""
    import numpy as np
    from tvm import te, topi

    from lutnas.lowering.fold import evaluate_copy

    a = te.placeholder((8, 3, 3, 5), name="a")
    packed = te.compute((2, 3, 3, 5, 4), lambda o, h, w, i, f: a[o * 4 + f, h, w, i], name="packed")
    funcs = {"transpose": te.create_prim_func([a, topi.transpose(a, (2, 3, 1, 0))]),
             "reshape": te.create_prim_func([a, topi.reshape(a, (6, 4, 15))]),
             "pack": te.create_prim_func([a, packed])}
    x = np.random.default_rng(0).standard_normal((8, 3, 3, 5)).astype("float32")
    dev = tvm.cpu()
    for name, func in funcs.items():
        lib = tvm.tirx.build(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target="llvm")
        out = tvm.runtime.tensor(np.zeros([int(d) for d in func.params[-1].shape], "float32"), dev)
        lib["main"](tvm.runtime.tensor(x, dev), out)
        np.testing.assert_array_equal(evaluate_copy(func, [x]), out.numpy(), err_msg=name)
    padded = te.create_prim_func([a, topi.nn.pad(a, (0, 1, 1, 0), (0, 1, 1, 0))])
    assert evaluate_copy(padded, [x]) is None


def test_the_pipeline_leaves_no_constant_work_for_llvm(tmp_path):
    """The numpy folds leave FoldConstant no call that reads only constants (it would build one LLVM
    module for each), and the folded-away weight transposes and packings are not compiled: every
    PrimFunc left is called, the two transposes left are the network's input and output."""
    from tvm import relax

    def constant_only_calls(mod) -> int:
        found = []
        for _gv, func in mod.functions_items():
            if isinstance(func, relax.Function):
                relax.analysis.post_order_visit(func, lambda e: found.append(e) if _reads_only_constants(e) else None)
        return len(found)

    seen = []

    @tvm.instrument.pass_instrument
    class BeforeFoldConstant:
        def run_before_pass(self, mod, info):
            if info.name == "FoldConstant":
                seen.append(constant_only_calls(mod))

    path, shape = _block_onnx("mbconv_k5_e6_s2_i16_o24_g1_relu6", 8, tmp_path)
    with tvm.transform.PassContext(instruments=[BeforeFoldConstant()]):
        mod = build_pipeline("lutnas-cpu", AVX2.tvm_target())(import_onnx(path, shape).mod)
    assert seen and not any(seen), seen
    names = [gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert sorted(names) == sorted(set(_calls(mod["main"]))), names
    assert not any(n.endswith("_weight_prepack") for n in names) and sum("transpose" in n for n in names) == 2


def _reads_only_constants(expr) -> bool:
    from tvm import relax

    if not isinstance(expr, relax.Call) or not expr.args:
        return False
    args = expr.args[1].fields if isinstance(expr.args[0], tvm.ir.GlobalVar) else expr.args
    tensors = [a for a in args if not isinstance(a, relax.ShapeExpr)]
    return bool(tensors) and all(isinstance(a, tvm.ir.expr.GenericConst) for a in tensors)


def test_blocks_with_network_boundaries_run_only_the_network_kernels(tmp_path):
    """A channels-last table's block is exported with NHWC input and output, as its neighbours in a
    network hand it (`jobs.BlockBoundary`; the stem keeps the image's NCHW input, the head's flat
    output stays flat); the pipeline cancels the inverse transposes, so its library has no transpose
    kernel and computes the plain block's output in NHWC."""
    import numpy as np

    from lutnas.latency_tables.jobs import BlockBoundary, export_block, image_keys, network_boundaries
    from lutnas.lowering.tvm_build import build, import_model, lower_relax
    from lutnas.spaces import get_space

    layout = get_space("proxyless").layer_table(32)
    blocks = layout.unique_blocks()
    (stem,) = image_keys(layout)
    head = next(k for k in blocks if layout.role(k) == "head")
    key = next(k for k in blocks if layout.role(k) == "layer" and k.startswith("mbconv_k5_e6_s1"))
    assert network_boundaries("lutnas-cpu", "tvm") and not network_boundaries("lutnas-cpu", "onnxruntime")
    assert not network_boundaries("tvm-default", "tvm") and not network_boundaries("lutnas-cpu-nchw", "tvm")
    assert BlockBoundary.of(blocks[stem], True, takes_image=True) == BlockBoundary(nhwc_in=False, nhwc_out=True)
    assert BlockBoundary.of(blocks[head], True, takes_image=False) == BlockBoundary(nhwc_in=True, nhwc_out=False)
    assert BlockBoundary.of(blocks[key], False, takes_image=False).plain

    block, bound = blocks[key], BlockBoundary(nhwc_in=True, nhwc_out=True)
    plain, nhwc = export_block(block, tmp_path), export_block(block, tmp_path, bound)
    assert plain != nhwc and nhwc.name.endswith(".nhwc-inout.onnx")
    shape = bound.input_shape(block)
    lowered = lower_relax(import_model(nhwc, shape)[0], AVX2, "lutnas-cpu")
    kernels = [gv.name_hint for gv, f in lowered.functions_items() if type(f).__name__ == "PrimFunc"]
    assert kernels and not any("transpose" in k for k in kernels), kernels
    plain_kernels = lower_relax(import_model(plain, block.input_shape)[0], AVX2, "lutnas-cpu")
    assert sum("transpose" in gv.name_hint for gv, _ in plain_kernels.functions_items()) == 2
    if AVX2.runnable_here()[0]:   # the same ONNX file under onnxruntime: the transposes cancelled right
        from lutnas.lowering.ort import ort_session

        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        session = ort_session(nhwc)
        want = session.run(None, {session.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(build(nhwc, shape, AVX2, "lutnas-cpu").run(x), want, rtol=1e-4, atol=1e-5)


def test_a_banded_block_compiles_no_weight_packing_that_compile_time_ran(tmp_path):
    """An inverted residual over a 112x112 plane becomes one banded kernel whose weight packing
    FoldConstant runs at compile time; the packing function is then dropped, not compiled into the
    library (Relax's dead code elimination keeps it: it has a global symbol)."""
    import contextlib
    from unittest.mock import patch

    from lutnas.lowering import fold

    path, shape = _block_onnx("mbconv_k5_e6_s1_i16_o16_g1_relu6", 112, tmp_path)
    tgt = get_target("x86", mcpu="znver1", num_cores=1).tvm_target()
    funcs = {}
    for drop in (True, False):
        keep_all = contextlib.nullcontext() if drop else patch.object(fold, "drop_unreferenced_primfuncs", lambda m: m)
        with keep_all:
            mod = build_pipeline("lutnas-cpu", tgt)(import_onnx(path, shape).mod)
        funcs[drop] = {gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)}
        if drop:
            assert funcs[drop] == set(_calls(mod["main"]))
    dropped = funcs[False] - funcs[True]
    assert funcs[True] < funcs[False] and all(n.endswith("_weight_prepack") for n in dropped), dropped


def test_channel_counts_pad_to_whole_vectors_when_it_costs_at_most_a_third():
    assert [padded_channels(c, 16) for c in (24, 40, 72, 184, 552, 32, 8, 20)] == [32, 48, 80, 192, 560, 32, 8, 20]
    assert [padded_channels(c, 8) for c in (24, 20, 4)] == [24, 24, 4]


class _PaddedNet(torch.nn.Module):
    """Channel counts of AVX-512's trouble (24, 72) through what the spaces use: a grouped conv
    (never padded) feeding a residual, a depthwise conv, hard-swish, squeeze-excite, a classifier."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Conv2d(3, 24, 3, 2, 1)
        self.group = nn.Conv2d(24, 24, 1, groups=2)
        self.expand, self.dw = nn.Conv2d(24, 72, 1), nn.Conv2d(72, 72, 3, 1, 1, groups=72)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(72, 24, 1), nn.ReLU(), nn.Conv2d(24, 72, 1),
                                nn.Hardsigmoid())
        self.project, self.head = nn.Conv2d(72, 24, 1), nn.Linear(24, 10)

    def forward(self, x):
        x = self.group(torch.relu(self.stem(x)))
        y = torch.nn.functional.hardswish(self.dw(torch.nn.functional.relu6(self.expand(x))))
        x = self.project(y * self.se(y)) + x
        return self.head(x.mean((2, 3)))


def test_padded_channels_compute_what_torch_computes(tmp_path):
    """Padded to AVX-512's 16 (the pass takes the width; the build is AVX2, so any x86 host runs it):
    the 72-channel convs compute 80, the 24-channel ones 32 where nothing forbids it, and the
    network's output is torch's."""
    mod = _padded_to_16_matches_torch(_PaddedNet().eval(), (1, 3, 16, 16), tmp_path)
    widths = sorted(int(c.ty.shape[3]) for c in _convs(mod["main"]))
    assert 80 in widths and 72 not in widths and 32 in widths, widths


class _StageNet(torch.nn.Module):
    """A 24-channel stage (padded to 32): its first block's expansion reads the stem's padded output,
    the projections read the depthwise's (72 -> 80), the second block's expansion the first's."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Conv2d(3, 24, 3, 1, 1)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(24, 72, 1), nn.ReLU6(), nn.Conv2d(72, 72, 3, 1, 1, groups=72),
                                                  nn.ReLU6(), nn.Conv2d(72, 24, 1)) for _ in range(2))

    def forward(self, x):
        x = self.blocks[0](torch.relu(self.stem(x)))   # the stem's output has one reader: the slice
        return (x + self.blocks[1](x)).mean((2, 3))


def test_a_1x1_reads_the_real_channels_of_a_padded_input_in_place(tmp_path):
    """The expansions read 24 of the 32 channels in place, with 24 weight rows (no zero rows: 25% of
    their work), the slice merged into their kernel; the projection after a depthwise keeps its zero
    rows (the depthwise's 80 channels are whole vectors); the output is torch's."""
    from lutnas.lowering.pipeline import fusion_passes

    mod = _padded_to_16_matches_torch(_StageNet().eval(), (1, 3, 12, 12), tmp_path)
    rows = sorted(int(c.args[1].ty.shape[2]) for c in _convs(mod["main"]) if int(c.attrs.groups) == 1)
    assert rows == [3, 24, 24, 80, 80], rows
    tgt = AVX2.tvm_target()
    with tgt:
        fused = tvm.transform.Sequential(fusion_passes(tgt))(mod)
    names = [gv.name_hint for gv in _globals(fused["main"].body)]
    sliced = [n for n in names if n.startswith("strided_slice")]
    assert len(sliced) == 2 and all("conv2d" in n for n in sliced), names   # no slice kernel of its own
    for name in set(sliced):   # the 1x1 rule takes it, reading 24 channels of the padded 32 in place
        func = fused[name]
        parts = conv_parts(func, 3)
        first_read = parts.sch.get(parts.producers[0]).reads[0].source
        assert parts.extents[6] == 24 and int(first_read.shape[3]) == 32, (parts.extents, first_read)
        assert ChannelsLastConv().apply(func, tgt, False) is not None
        sch, _rule = apply_rules(func, tgt, default_cpu_rules())
        assert_same_outputs(func, sch.mod["main"], tgt, name)


class _DividedNet(torch.nn.Module):
    """A padded tensor divided by another whose pad lanes are zero (a per-channel offset pads with 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.top, self.bottom, self.out = (torch.nn.Conv2d(3, 24, 1), torch.nn.Conv2d(3, 24, 1),
                                           torch.nn.Conv2d(24, 16, 1))
        self.offset = torch.nn.Parameter(torch.full((1, 24, 1, 1), 2.0))

    def forward(self, x):
        return self.out(self.top(x) / (torch.relu(self.bottom(x)) + self.offset))


def test_a_division_by_a_padded_tensor_is_not_padded(tmp_path):
    """0 / 0 in a pad lane is NaN, and NaN times the next conv's zero weight row is NaN: such a
    division takes its operands sliced back, and the output stays torch's (not NaN)."""
    _padded_to_16_matches_torch(_DividedNet().eval(), (1, 3, 8, 8), tmp_path)


def _padded_to_16_matches_torch(net, shape: tuple[int, ...], tmp_path):
    """`net` channels-last with its channels padded for 16-float vectors, built for AVX2 (any x86 host
    runs it), its output checked against torch; returns the padded Relax module."""
    import numpy as np
    from tvm import relax

    mod = import_onnx(export_onnx(net, shape, tmp_path / "padded.onnx"), shape).mod
    mod = tvm.transform.Sequential(layout_passes("NHWC") + [fold_in_numpy(), pad_channels(16)])(mod)
    tgt = AVX2.tvm_target()
    vm = relax.VirtualMachine(relax.build(mod, target=tgt, relax_pipeline=cpu_pipeline(tgt)), tvm.cpu())
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    got = vm["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    np.testing.assert_allclose(got, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-4)
    return mod


def _convs(func) -> list:
    conv = tvm.ir.Op.get("relax.nn.conv2d")
    return _visited(func.body, lambda e: isinstance(e, tvm.relax.Call) and e.op.same_as(conv))


class _PooledNet(torch.nn.Module):
    """A conv (so the NHWC pipeline converts the layout), then a whole-plane average pool and a
    windowed one: only the first becomes a mean."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, 1, 1)

    def forward(self, x):
        y = self.conv(x)
        return torch.nn.functional.avg_pool2d(y, y.shape[-1]) + torch.nn.functional.avg_pool2d(y, 2).amax((2, 3), True)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_whole_plane_average_pools_become_means_and_compute_the_same(layout, tmp_path):
    """TOPI's pools arrive scheduled (scalar sums, 7x slower than the rules' mean on a 32x32 plane):
    a pool over the whole plane is rewritten to a mean over its axes, a windowed pool is not."""
    import numpy as np
    from tvm import relax

    net, shape = _PooledNet().eval(), (1, 3, 16, 16)
    path = export_onnx(net, shape, tmp_path / "pooled.onnx")
    mod = fused_module(path, shape, AVX2.tvm_target(), layout=layout)
    names = [gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert sum("mean" in n for n in names) == 1 and sum("avg_pool2d" in n for n in names) == 1, names
    tgt = AVX2.tvm_target()
    mod = import_onnx(path, shape).mod
    pipeline = build_pipeline("lutnas-cpu" if layout == "NHWC" else "lutnas-cpu-nchw", tgt)
    vm = relax.VirtualMachine(relax.build(mod, target=tgt, relax_pipeline=pipeline), tvm.cpu())
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    got = vm["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    np.testing.assert_allclose(got, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


class _HeadNet(torch.nn.Module):
    """A network's tail: the head 1x1 (with an h-swish, as ofa-mbv3's), its global mean, a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.head, self.classifier = torch.nn.Conv2d(24, 64, 1), torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.classifier(torch.nn.functional.hardswish(self.head(x)).mean((2, 3)))


def test_a_build_for_its_cores_runs_head_mean_and_classifier_as_one_kernel(tmp_path):
    """Built for one or two cores, the head 1x1, its mean and the classifier are one function that the
    head-classifier rule schedules (strips of the classifier's reduction, the conv under each, both
    prefetching their next strip; the classifier's vectors in independent chains; at two cores a
    contiguous half of the channels per core, two partial outputs added) and the output is torch's;
    a build that does not know its cores keeps three kernels."""
    import numpy as np
    from tvm import relax

    from lutnas.lowering.rules.head import HeadClassifier
    from lutnas.lowering.tvm_build import compile_lowered, lower_relax

    net, shape = _HeadNet().eval(), (1, 24, 7, 7)
    path = export_onnx(net, shape, tmp_path / "head.onnx")
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    for cores, fused in ((1, True), (2, True), (None, False)):
        target = get_target("x86", mcpu="znver1", num_cores=cores)
        funcs = dict(fused_module(path, shape, target.tvm_target()).functions_items())
        heads = [f for gv, f in funcs.items() if "conv2d" in gv.name_hint and "matmul" in gv.name_hint]
        assert len(heads) == int(fused), [gv.name_hint for gv in funcs]
        if fused:
            sch = HeadClassifier().apply(heads[0], target.tvm_target(), False)
            assert sch is not None
            assert ("T.parallel" in sch.mod.script()) == (cores == 2)
            # every 8 reduction steps (`head.PREFETCH_EVERY_STEPS`) prefetch the next strip's classifier
            # rows and conv weights, one line each: 24 channels x 10 classes over 3 points x 10 tiles
            assert sch.mod.script().count("llvm.prefetch") == 2
            # 10 classes are 5 AVX2 vectors of 2 (a power of two dividing 10): 5 independent chains
            update = "matmul_rf_update" if cores == 2 else "matmul_update"   # each core's partial output
            *_, strip_k, chains, lanes = (sch.get(lv) for lv in sch.get_loops(sch.get_sblock(update)))
            assert [int(loop.extent) for loop in (chains, lanes)] == [5, 2], (strip_k, chains)
            assert chains.kind == strip_k.kind == tvm.tirx.ForKind.UNROLLED
            assert apply_rules(heads[0], target.tvm_target(), default_cpu_rules())[1] == "head-classifier"
            # 49 pixels in AVX2 tiles of 5 (`nhwc.pad_gemm`): the conv computes 50, the mean reads 49
            *_, tiles, _ry, _rx, points, steps, px, _v, _lanes = (
                sch.get(lv) for lv in sch.get_loops(sch.get_sblock("conv2d_nhwc_update")))
            assert (int(tiles.extent), int(px.extent)) == (10, 5)
            assert (int(points.extent), int(steps.extent)) == (3, 8)   # prefetch points: 24 steps in 3 of 8
        lib = compile_lowered(lower_relax(import_onnx(path, shape).mod, target, "lutnas-cpu"), target)
        got = relax.VirtualMachine(lib, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
        np.testing.assert_allclose(got, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


class _SqueezeExcite(torch.nn.Module):
    """A squeeze-excite gate: its first 1x1 reads a mean of a map that the gate multiplies too."""

    def __init__(self) -> None:
        super().__init__()
        self.squeeze, self.excite = torch.nn.Conv2d(32, 8, 1), torch.nn.Conv2d(8, 32, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.excite(torch.relu(self.squeeze(x.mean((2, 3), keepdim=True)))))


def test_a_pooled_feature_mix_layer_joins_the_head_kernel_and_a_squeeze_excite_does_not(tmp_path, monkeypatch):
    """ofa-mbv3's head: a 1x1, its mean, a 1x1 "feature-mix" layer on the pooled pixel, the classifier.
    Built for one or two cores the mix layer is a matmul (`head_classifier.pooled_mix_as_matmul`)
    that the head's conv and mean join in one kernel, scheduled by the head-classifier rule, and the
    output is torch's; with the rewrite off the mix stays a conv and nothing joins. A squeeze-excite's
    first 1x1 also reads a mean, but of a map the gate reads too: it stays a conv."""
    import numpy as np
    from tvm import relax

    from lutnas.lowering import head_classifier
    from lutnas.lowering.rules import apply_rules, default_cpu_rules
    from lutnas.lowering.tvm_build import compile_lowered, lower_relax
    from lutnas.spaces.blocks import Block, BlockSpec

    spec, shape = BlockSpec.parse("head_k1_e1_s1_i24_o32_g1_hswish_h48_c10"), (1, 24, 7, 7)
    net = Block(spec, shape).build().eval()
    path = export_onnx(net, shape, tmp_path / "head.onnx")
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    for cores in (1, 2):
        target = get_target("x86", mcpu="znver1", num_cores=cores)
        funcs = dict(fused_module(path, shape, target.tvm_target()).functions_items())
        heads = [f for gv, f in funcs.items() if "conv2d" in gv.name_hint and "_mean_matmul" in gv.name_hint]
        assert len(heads) == 1, [gv.name_hint for gv in funcs]
        assert apply_rules(heads[0], target.tvm_target(), default_cpu_rules())[1] == "head-classifier"
        lib = compile_lowered(lower_relax(import_onnx(path, shape).mod, target, "lutnas-cpu"), target)
        got = relax.VirtualMachine(lib, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
        np.testing.assert_allclose(got, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    target = get_target("x86", mcpu="znver1", num_cores=1).tvm_target()
    se_shape = (1, 32, 7, 7)
    se_path = export_onnx(_SqueezeExcite().eval(), se_shape, tmp_path / "se.onnx")
    assert not any("matmul" in gv.name_hint for gv in fused_module(se_path, se_shape, target).functions)
    monkeypatch.setattr(head_classifier, "POOLED_MIX_AS_MATMUL", False)
    assert not any("_mean_" in gv.name_hint for gv in fused_module(path, shape, target).functions)


@pytest.mark.parametrize("space_name", ["proxyless", "fbnet"])
def test_one_and_two_thread_builds_of_a_space_network_match_torch(space_name, tmp_path):
    """A whole network built for one core and for two (the target's `num-cores`: strips-outer 1x1s
    at one, the head kernel's per-core shares at two) computes torch's output in both, and both run
    the head, its mean and the classifier as one kernel. (ofa-mbv3's head, whose 960 -> 1280 mix layer
    joins it as its "classifier": `test_a_pooled_feature_mix_layer_joins_the_head_kernel_...`;
    `test_speed` runs a two-core build on one and on two threads.)"""
    import numpy as np
    from tvm import relax

    from lutnas.lowering.tvm_build import compile_lowered, lower_relax
    from lutnas.spaces import get_space

    space, shape = get_space(space_name), (1, 3, 32, 32)
    net = space.build(space.sample(np.random.default_rng(5)), 32).eval()
    path = export_onnx(net, shape, tmp_path / "net.onnx")
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    want = net(torch.from_numpy(x)).detach().numpy()
    for cores in (1, 2):
        target = get_target("x86", mcpu="znver1", num_cores=cores)
        names = [gv.name_hint for gv in fused_module(path, shape, target.tvm_target()).functions]
        assert any("_mean_matmul" in n for n in names), names
        lib = compile_lowered(lower_relax(import_onnx(path, shape).mod, target, "lutnas-cpu"), target)
        got = relax.VirtualMachine(lib, tvm.cpu())["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())),
                                   err_msg=f"{space_name} built for {cores} core(s)")
