"""latency_tables: SQLite latency lookup tables built from raw measurements, numba statistics and prediction.

Entry points: `profile_table()` builds or resumes a table for (space, resolution, target, runtime)
on a device; `open_table(db, table_id=None) -> LatencyTable` reads one back (`.meta`, `.dense()`,
`.check_compatible()`); `DenseTable.predict(archs)` is the parallel numba predictor search uses;
`formats` exports/imports JSON, CSV and the Once-for-All / ProxylessNAS YAML key format.
numba is only imported when a kernel first runs; torch / tvm only when profiling.
"""

from lutnas.latency_tables.dense import DenseTable, Prediction
from lutnas.latency_tables.store import SCHEMA_VERSION, Store, TableMeta
from lutnas.latency_tables.table import LatencyTable, open_table

__all__ = ["SCHEMA_VERSION", "DenseTable", "LatencyTable", "Prediction", "Store", "TableMeta", "open_table",
           "profile_table"]


def __getattr__(name: str):
    if name == "profile_table":
        from lutnas.latency_tables.profile import profile_table

        return profile_table
    raise AttributeError(name)
