"""1-thread builds with every parallel loop left serial (Schedule.parallel a no-op) against as built."""
import sys, os
sys.argv = [sys.argv[0], "--rewrite", "head-classifier", "--resolution", "224", "--threads", "1", "--rounds", sys.argv[1]]
sys.path.insert(0, "/work/main/bench")
import fusion_ab
from contextlib import nullcontext
from unittest.mock import patch
def variants(args):
    import tvm.s_tir
    return [("parallel", nullcontext), ("serial", lambda: patch.object(tvm.s_tir.Schedule, "parallel", lambda self, loop: None))]
fusion_ab.variants = variants
fusion_ab.main()
