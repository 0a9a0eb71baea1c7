"""The timing loop `headab.py` and `gemvab.py` share: every VM's `main` timed in turn over `rounds`
(the order reversed every other round), each a median of 15 calls, hot and after a 64 MB write."""
import time

import numpy as np


def time_alternately(vms, x, rounds):
    """{(name, flushed): [median us per round]} for each VM of `vms` (name -> VirtualMachine)."""
    flush = np.ones(64 << 20 >> 2, dtype=np.float32)
    names = list(vms)
    res = {(v, c): [] for v in names for c in (False, True)}
    for r in range(rounds):
        for cold in (False, True):
            for v in (names if r % 2 == 0 else names[::-1]):
                f, ts = vms[v]["main"], []
                for _ in range(15):
                    if cold:
                        flush[::16] += 1.0
                    s = time.perf_counter(); f(x); ts.append(time.perf_counter() - s)
                res[(v, cold)].append(np.median(ts) * 1e6)
    return res
