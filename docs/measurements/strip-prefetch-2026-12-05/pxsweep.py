"""A depthwise's tile forced to N output pixels (`rules.nhwc.largest_divisor` patched):
`python pxsweep.py 96,112,7,2 8,1,2,4,7,14` (the first N is the reference)."""
import sys
from functools import partial
from unittest.mock import patch

import lutnas.lowering.rules.nhwc as nhwc
from probe_kernels import block, kernel_jobs, report, time_variants

spec, pixels = sys.argv[1], [int(v) for v in sys.argv[2].split(",")]
net, shape = block(spec)
variants = [kernel_jobs(net, shape, f"px{px}-{spec}", partial(patch.object, nhwc, "largest_divisor",
                                                               lambda n, limit, prefer=(), px=px: px))
            for px in pixels]
print(report(spec, [f"px {px}" for px in pixels], time_variants(variants)), flush=True)
