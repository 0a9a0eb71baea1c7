"""Whole networks, same process (bench/fusion_ab.py's loop): the default build against small changes
alone and together. python combo_ab.py --resolution 224 --threads 1 --rounds 7 [fusion_ab options]
Variants: wide (TIR keeps 64-bit indices: no NarrowDataType(32)), min512k (an expansion joins its
depthwise's bands from 512 KB of expanded plane, not 1 MB), stack2k (accumulators up to 2 KB as stack
allocas, tiles re-chosen: bigstack.py), and all three; VARIANTS=spread: the 1x1s' next-strip weight
prefetch spread over a strip's pixel tiles (blockab_lib.prefetch_spread)."""
import os, sys
sys.path.insert(0, "/work/main/bench"); sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_ab as ab
from blockab_lib import patched_or_config

SPECS = {"wide": "wide-index", "min512k": "lutnas.lowering.dw_pw_fusion.MIN_EXPANDED_BYTES=524288",
         "stack2k": "stack:2048"}
SPECS["all"] = "|".join(SPECS.values())
SPECS["spread"] = "pf-spread"   # the next strip's weight rows prefetched once each, spread over the strip's tiles
CHOSEN = os.environ.get("VARIANTS", "wide,min512k,stack2k,all").split(",")


def variants(args):
    return [("base", lambda: patched_or_config(""))] + [
        (name, lambda s=SPECS[name]: patched_or_config(s)) for name in CHOSEN]


ab.variants = variants
ab.main()
