"""1x1 kernels in-model, TVM's 1 KB stack limit vs accumulators up to 2 KB as allocas:
python pwab.py SPACE INDEX THREADS ROUNDS VARIANT
VARIANT retile: tiles re-chosen for the larger stack array; keep: tiles as before, the larger ones
annotated and prefetching their next weight strip. The timing is kab.py's."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kab   # sets TVM_NUM_THREADS from argv[3] before TVM loads
import bigstack
from contextlib import ExitStack, contextmanager
from unittest.mock import patch
from lutnas.lowering.rules import base, nhwc

@contextmanager
def stack_tiles(variant):
    with ExitStack() as st:
        st.enter_context(bigstack.as_default_pipeline(2048))
        if variant == "retile":
            st.enter_context(patch.object(base, "STACK_ARRAY_BYTES", 2048))
        else:
            orig = nhwc.prefetches_strips
            st.enter_context(patch.object(nhwc, "prefetches_strips",
                                          lambda flat, fo, sb, on_stack: orig(flat, fo, sb, True)))
        yield

variant = sys.argv[5]
kab.compare(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), lambda: stack_tiles(variant),
            f"stack tiles, {variant}")
