"""Held-out networks profiled in their own context: which blocks differ from the table's entries?"""
import json, sys, pickle
from collections import defaultdict
import numpy as np
from lutnas.latency_tables import open_table
from lutnas.latency_tables.context import profile_in_network
from lutnas.spaces import get_space
space = get_space(sys.argv[1]); res = int(sys.argv[2]); ref = sys.argv[3]; db = sys.argv[4]
rows = [r for r in json.load(open(ref + "/v1/report.json"))["rows"] if r["role"] == "score"]
archs = [tuple(r["arch"]) for r in rows]
r = profile_in_network(space, res, archs=archs, progress=False, work_dir=__import__("pathlib").Path("/tmp/cov/nets"))
pickle.dump(r, open(f"/tmp/cov/own-{sys.argv[1]}{res}{sys.argv[5] if len(sys.argv) > 5 else ''}.pkl", "wb"))
t = open_table(db)
est = {e.key: e for e in t.entries()}
stats = t.statistics()
print(type(stats), list(stats)[:2] if hasattr(stats, '__iter__') else '')
