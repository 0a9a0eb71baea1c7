from unittest.mock import patch
import lutnas.lowering.dw_pw_fusion as fusion
def kb512():
    return patch.object(fusion, "MIN_EXPANDED_BYTES", 512 * 1024)
def kb256():
    return patch.object(fusion, "MIN_EXPANDED_BYTES", 256 * 1024)
