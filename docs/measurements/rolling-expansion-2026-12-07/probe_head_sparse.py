"""Variant: the head's prefetches once per U steps of the conv's reduction (U a power of two near
steps / lines), several lines where a point must cover more than one, instead of every step."""
import os
from contextlib import ExitStack
from unittest.mock import patch
from lutnas.lowering.rules import head
from lutnas.lowering.rules.nhwc import packed_weights, prefetch_each_step

def _every(steps, lines, extent, cap):
    u = 1
    while u * 2 <= cap and extent % (u * 2) == 0 and steps / (u * 2) >= lines:
        u *= 2
    return u

def prefetch_sparse(sch, matmul, conv, strip, tile, rc_loop, tiles, strips, fv, classes):
    from tvm import tirx
    classifier = [r.source for r in sch.get(matmul).reads if len(r.region) == 2][-1]
    packed = packed_weights(sch, conv)
    reduction = int(sch.get(rc_loop).extent)
    first, loop_rv = strip
    following = tirx.min(sch.get(loop_rv).loop_var + 1, strips - 1)
    following = following if first is None else first + following
    zero = tirx.const(0, str(sch.get(rc_loop).extent.ty))
    cls_lines, conv_lines = fv * classes * 4 // 64, reduction * fv * 4 // 64
    u = int(os.environ["U"]) if "U" in os.environ else _every(tiles * reduction, cls_lines, reduction, 8)
    rco, _rci = sch.split(rc_loop, factors=[None, u])
    per = -(-cls_lines * u // (tiles * reduction))
    line = head._spread_line(sch, tile, rco, tiles, cls_lines)
    loads = [tirx.BufferLoad(classifier, [following * fv, (line + k) * 16]) for k in range(per)]
    if head.PREFETCH_CONV_STRIP:
        loads.append(tirx.BufferLoad(packed, [following, zero, zero, zero,
                                              head._spread_line(sch, tile, rco, tiles, conv_lines) * 16]))
    prefetch_each_step(sch, rco, loads)

def sparse():
    st = ExitStack()
    st.enter_context(patch.object(head, "_prefetch_next_share", prefetch_sparse))
    return st

def _fixed(u):
    def ctx():
        os.environ["U"] = str(u)
        return sparse()
    return ctx
sparse_2, sparse_4, sparse_8 = _fixed(2), _fixed(4), _fixed(8)
sparse_16, sparse_32 = _fixed(16), _fixed(32)

def none():
    st = ExitStack()
    st.enter_context(patch.object(head, "_prefetch_next_share", lambda *a: None))
    return st
