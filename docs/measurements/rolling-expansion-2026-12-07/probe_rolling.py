"""Variant: the expansion of a banded kernel computed per output row into a rolling buffer of the
window's rows (TVM's rolling_buffer), instead of a band's rows plus halo."""
from unittest.mock import patch
from contextlib import ExitStack
from lutnas.lowering.rules import banded
from lutnas.lowering.rules.base import gemm_accumulators, inline_chain, stack_vectors, target_cores
from lutnas.lowering.rules.nhwc import GemmShape, epilogue_and_init, pack_weights, register_tile, split_vectors

def expand_rolling(*a):
    try:
        return _expand_rolling(*a)
    except Exception as e:
        import traceback; traceback.print_exc(); raise

def _expand_rolling(sch, blocks, convs, ee, bands, lanes, target):
    e_i, d_i, _ = convs
    ex = blocks[e_i]
    row_loop = sch.get_loops(blocks[d_i])[1]
    max_acc = gemm_accumulators(target)
    px, fv = register_tile(GemmShape(ee[2], ee[3], ee[6], True), lanes, max_acc, stack_vectors(target))
    pack_weights(sch, ex, fv)
    for block in blocks[:e_i]:
        sch.compute_inline(block)
    out = inline_chain(sch, blocks[e_i + 1:d_i - 1])
    sch.compute_at(out, row_loop, preserve_unit_loops=True)
    sch.compute_at(ex, row_loop, preserve_unit_loops=True)
    *_, ln, ly, lx, lf, lry, lrx, lrc = sch.get_loops(ex)
    xo, xi = sch.split(lx, factors=[None, px])
    fo, fi = sch.split(lf, factors=[None, fv])
    sch.reorder(ln, ly, xo, fo, lry, lrx, lrc, xi, fi)
    sch.unroll(xi)
    split_vectors(sch, fi, lanes, max_unroll=max_acc)
    epilogue_and_init(sch, ex, out, fo, lry, lanes, max_unroll=max_acc)
    window, stride = ee_window(sch, blocks[d_i])
    sch.transform_layout(out, ("write", 0), lambda n, y, x, c: (n, y % window, x, c))
    _skip_computed_rows(sch, row_loop, ly, (window, stride))

def ee_window(sch, dw):
    from lutnas.lowering.rules.base import static_extents, row_stride
    return static_extents(sch, sch.get_loops(dw)[-3:-2])[0], row_stride(sch, dw) or 1

def _skip_computed_rows(sch, row_loop, ly, window_stride):
    from tvm import tirx
    window, stride = window_stride
    loop = sch.get(ly)
    fresh = tirx.Or(tirx.EQ(sch.get(row_loop).loop_var, tirx.const(0, str(sch.get(row_loop).extent.ty))), tirx.GE(loop.loop_var, tirx.const(window - stride, str(loop.extent.ty))))
    body = tirx.IfThenElse(fresh, loop.body, None)
    sch.state.replace(sch.get_sref(ly), tirx.For(loop.loop_var, loop.min, loop.extent, loop.kind, body,
                                                  loop.thread_binding, loop.annotations))

def rows_per_core(out_rows, row_bytes, window, stride, cores):
    return out_rows // cores if out_rows % cores == 0 else 1

def rolling():
    st = ExitStack()
    st.enter_context(patch.object(banded, "_expand_per_band", expand_rolling))
    st.enter_context(patch.object(banded, "band_rows", rows_per_core))
    return st
