"""With `row-prefetch-dropped.diff` applied: kernels without and with `rules.nhwc.PREFETCH_ROWS`:
`python rowpf.py 96,112,7,2 144,56,5,1 48,112,5,1 96,112,7,2,32`."""
import sys
from functools import partial
from unittest.mock import patch

import lutnas.lowering.rules.nhwc as nhwc
from probe_kernels import block, kernel_jobs, report, time_variants

for spec in sys.argv[1:]:
    variants = [kernel_jobs(*block(spec), f"rows{on}-{spec}", partial(patch.object, nhwc, "PREFETCH_ROWS", on))
                for on in (False, True)]
    print(report(spec, ["off", "row prefetch"], time_variants(variants)), flush=True)
