"""With `strided-depthwise-dropped.diff` applied: `rules.nhwc.STRIDED_DEPTHWISE_PIXELS` 0 (tiles as at
stride 1) against 4: `python strided.py 96,112,7,2 96,112,7,2,32 144,56,3,2,48 48,112,5,2,24`."""
import sys
from functools import partial
from unittest.mock import patch

import lutnas.lowering.rules.nhwc as nhwc
from probe_kernels import block, kernel_jobs, report, time_variants

for spec in sys.argv[1:]:
    variants = [kernel_jobs(*block(spec), f"strided{px}-{spec}",
                            partial(patch.object, nhwc, "STRIDED_DEPTHWISE_PIXELS", px)) for px in (0, 4)]
    print(report(spec, ["px 0", "px 4"], time_variants(variants)), flush=True)
