"""blockab_lib.patched_or_config plus 'rows:N' (tworow.enabled(N)) and 'rowsout:N' (rows outside the dw's taps)."""
import os, sys
from contextlib import ExitStack
sys.path.insert(0, "/work/main/docs/measurements/k5-block-2026-12-06")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blockab_lib, tworow

ORIGINAL = blockab_lib.patched_or_config   # blockab2.py replaces it with the function below


def patched_or_config(spec):
    stack = ExitStack()
    rest = []
    for part in spec.split("|"):
        if part.startswith("rows:"):
            stack.enter_context(tworow.enabled(int(part[5:])))
        elif part.startswith("rowsout:"):
            stack.enter_context(tworow.enabled(int(part[8:]), dw_rows_inside=False))
        elif part:
            rest.append(part)
    stack.enter_context(ORIGINAL("|".join(rest)))
    return stack
