"""Probe: the fused depthwise's border tests confined to the border. After the banded rule
schedules an inverted residual, the 1x1's pixel-tile loop (under which the depthwise runs) is
partitioned (`Schedule.loop_partition`) into border / interior / border tiles, and (ROWS) its
rows-in-band loop likewise, so the interior copies' window taps carry no `if_then_else` once TIR's
simplifier knows the loop bounds. Patch spec for blockab.py / kab.py: 'borders.ON=True'."""
import math
from lutnas.lowering.rules import banded
from lutnas.lowering.rules.base import kinded_blocks, static_extents, target_cores, vector_lanes

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


def apply(self, func, target, tunable):
    if LIKELY:
        func = likely_pads(func)
    found = kinded_blocks(func)
    if found is None:
        return None
    sch, blocks, kinds = found
    convs = [i for i, k in enumerate(kinds) if k == "SSSSRRR"]
    if len(convs) != 3 or any(i not in convs and "R" in k for i, k in enumerate(kinds)):
        return None
    ex, dw, pw = (blocks[i] for i in convs)
    ee, de, pe = (static_extents(sch, sch.get_loops(b)) for b in (ex, dw, pw))
    if (None in (ee, de, pe) or ee[4:6] != [1, 1] or de[6] != 1 or de[4:6] == [1, 1] or pe[4:6] != [1, 1]
            or de[1:3] != pe[1:3] or convs[1] - convs[0] < 2 or convs[2] - convs[1] < 2):
        return None
    lanes = vector_lanes(target)
    stride = max(1, ee[1] // de[1])
    rows = banded.band_rows(de[1], ee[2] * ee[3] * 4, de[4], stride, target_cores(target) or 2)
    tile = banded._project_in_bands(sch, blocks, convs, pe, de, rows, target)
    banded._expand_per_band(sch, blocks, convs, ee, tile, lanes, target)
    if ON and stride == 1:
        partition(sch, pw, dw, de[4] // 2)
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
