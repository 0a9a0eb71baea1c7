import contextlib
from unittest.mock import patch
from lutnas.lowering.rules import nhwc
@contextlib.contextmanager
def rows3():
    with patch.object(nhwc, "DEPTHWISE_UNROLLED_ROWS_UP_TO", 3):
        yield
