"""`lutnas predict`: latencies of an archs file from a stored table, in input order.

The archs file names its space; a table of another space (or whose layout differs) is refused with
both names, unless the caller allows the mismatch, which is then recorded on every output row.
Choices are validated twice: by the file's space on load (layer named) and by the dense table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lutnas.errors import ArchError, TableError
from lutnas.latency_tables.table import open_table


def predict_archs(db: str | Path, table_id: str | None, archs_file: str | Path, *,
                  allow_mismatch: bool = False, calibrated: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows {"arch", "latency_ms", "low_ms", "high_ms"[, "mismatch"]} and the allowed mismatches."""
    from lutnas.spaces import load_archs

    table = open_table(db, table_id)
    try:
        space_name, archs = load_archs(archs_file)
        if space_name != table.meta.space and not allow_mismatch:
            raise TableError(f"{archs_file} holds archs of space {space_name!r} but table {table.id} "
                             f"is for space {table.meta.space!r} (--allow-mismatch to try anyway)")
        mismatch = table.check_compatible(space=space_name, allow_mismatch=allow_mismatch)
        dense = table.dense(calibrated=calibrated)
    finally:
        table.close()
    if not archs:
        return [], mismatch
    arr = np.asarray(archs, dtype=np.int64)
    try:
        pred = dense.predict(arr)
    except ArchError as err:
        raise ArchError(f"{archs_file}: table {table.id} ({table.meta.space}): {err}") from None
    rows = []
    for i, arch in enumerate(archs):
        row: dict[str, Any] = {"arch": [int(c) for c in arch], "latency_ms": float(pred.latency_ms[i]),
                               "low_ms": float(pred.low_ms[i]), "high_ms": float(pred.high_ms[i]),
                               "table": table.id}
        if mismatch:
            row["mismatch"] = mismatch
        if calibrated:
            row["calibrated"] = True
        rows.append(row)
    return rows, mismatch
