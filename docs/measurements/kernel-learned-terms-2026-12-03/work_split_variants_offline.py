import sys, os
sys.path.insert(0, "/tmp/s15")
import numpy as np
import lutnas.latency_tables.kernel_model as km
V = os.environ.get("VAR", "a")
orig = km.work_terms
def terms(info, vector_bits=0):
    t = orig(info, vector_bits)
    pad = km.lane_padding(info, vector_bits)
    if V == "b": t[6] = t[6] / pad
    if V == "c": t[1] = t[1] + t[6]; t[6] = 0.0
    if V == "d": t = np.append(t, t[6] * (1 if info.kind == "conv" and info.params[1].shape[-2:-1] == (1,) else 0))
    return t
km.work_terms = terms
sys.argv = [sys.argv[0], "/tmp/s15/run12"]
exec(open("/tmp/s15/score10.py").read())
