"""Covering networks of a context table: their latency at profile time over the table's own prediction
for them, the four slowest (the former anchors) against the rest.

    .venv/bin/python anchor_bias.py T.db [T.db ...]
"""
import sys

import numpy as np

from lutnas.latency_tables import open_table
from lutnas.latency_tables.network_context import stored_context

for db in sys.argv[1:]:
    table = open_table(db)
    ctx = stored_context(table)
    predicted = table.dense().predict(np.asarray(ctx.archs, dtype=np.int64)).latency_ms
    resid = np.asarray(ctx.ms) / predicted
    order = np.argsort(-np.asarray(ctx.ms))
    print(db, "then / predicted, 4 slowest by then:", np.round(resid[order[:4]], 3),
          "others' median:", round(float(np.median(resid[order[4:]])), 3))
    table.close()
