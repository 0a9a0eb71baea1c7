"""Variant: on 16-register AVX2, no register tile whose accumulators, weight vectors and broadcast fill all 16."""
from contextlib import ExitStack
from unittest.mock import patch
from lutnas.lowering.rules import nhwc

_orig = nhwc._too_wide

def too_wide(shape, px, vectors, lanes, padded):
    if lanes == 8 and px * vectors + vectors + 1 > 15:
        return True
    return _orig(shape, px, vectors, lanes, padded)

def slack():
    st = ExitStack()
    st.enter_context(patch.object(nhwc, "_too_wide", too_wide))
    return st
