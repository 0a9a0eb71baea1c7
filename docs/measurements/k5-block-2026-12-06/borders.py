"""Probe: the fused depthwise's border tests confined to the border. After the banded rule
schedules an inverted residual, the 1x1's pixel-tile loop (under which the depthwise runs) is
partitioned (`Schedule.loop_partition`) into border / interior / border tiles, and (ROWS) its
rows-in-band loop likewise, so the interior copies' window taps carry no `if_then_else` once TIR's
simplifier knows the loop bounds. Patch spec for blockab.py / kab.py: 'borders.ON=True'."""
import math
from lutnas.lowering.rules import banded

ON = False
ROWS = False


LIKELY = False


def likely_pads(func):
    """`func` with each padding's border test wrapped in `T.likely` (what TIR's LoopPartition looks for)."""
    import re
    import tvm
    text = func.script()
    new = re.sub(r"T\.if_then_else\(([^,]*),", r"T.if_then_else(T.likely(\1),", text)
    return tvm.script.from_source(new) if new != text else func


_rule_apply = banded.ChannelsLastExpandDepthwisePointwise.apply


def apply(self, func, target, tunable):
    """The banded rule's schedule, then (ON) the 1x1's pixel tiles partitioned (`partition`)."""
    if LIKELY:
        func = likely_pads(func)
    sch = _rule_apply(self, func, target, tunable)
    if sch is None or not ON:
        return sch
    pw, dw = sch.get_sblock("conv2d_nhwc1_update"), sch.get_sblock("group_conv2d_nhwc_update")
    window = int(sch.get(sch.get_loops(dw)[-4]).extent)   # the unrolled window rows: ... ry, rx, px, lanes
    partition(sch, pw, dw, window // 2)
    return sch


def partition(sch, pw, dw, pad):
    loops = sch.get_loops(pw)
    band_rows, xo = loops[1], loops[2]
    px = int(sch.get(sch.get_loops(dw)[-2]).extent)
    n_x, n_rows = int(sch.get(xo).extent), int(sch.get(band_rows).extent)
    edge = math.ceil(pad / px)
    if ROWS and n_rows > 2 * pad:
        parts = sch.loop_partition(band_rows, [pad, n_rows - 2 * pad, pad])
        # the pixel tiles of the interior rows
        mid_pw = [b for b in sch.get_child_blocks(parts[1])]
        return
    if n_x > 2 * edge:
        sch.loop_partition(xo, [edge, n_x - 2 * edge])


banded.ChannelsLastExpandDepthwisePointwise.apply = apply
