import sys
sys.path.insert(0, "/work/main/bench")
from unittest.mock import patch
import fusion_ab
import lutnas.lowering.dw_pw_fusion as fusion
def variants(args):
    return [("1 MB", lambda: patch.object(fusion, "MIN_EXPANDED_BYTES", 1 << 20))] + [
        (f">= {t} B", lambda t=t: patch.object(fusion, "MIN_EXPANDED_BYTES", t)) for t in (262144, 524288)]
fusion_ab.variants = variants
sys.argv = ["fusion_ab.py", "--threads", "1", "--per-space", "3", "--rounds", "7"]
fusion_ab.main()
