"""dws2 variants against the shipped rule: 'rows' = the row-by-row order (bands forced off)."""
import contextlib
from unittest.mock import patch
from lutnas.lowering.rules import nhwc
@contextlib.contextmanager
def variant(tag):
    if tag == "rules":
        yield
    elif tag == "rows":
        with patch.object(nhwc, "depthwise_bands", lambda *a: 0):
            yield
    else:
        raise SystemExit(tag)
