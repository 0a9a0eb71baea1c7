"""The MetaSchedule database: one JSON database per (device fingerprint, target), shared by tuning
(which fills it) and the `lutnas-cpu+tuned:<hash>` pipeline (which applies it).

Its own module so that `pipeline` can apply a database without importing the tuner, and the tuner
can fuse a network with `pipeline`'s passes without an import cycle. Tasks are matched
structurally (`module_equality="structural"`), so a task tuned inside one block serves every
network containing it. The content hash names the database in pipeline names and cache keys: a
database that grew builds anew.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from lutnas.errors import LutnasError, error_line

if TYPE_CHECKING:
    import tvm
    from tvm.s_tir.meta_schedule.database import JSONDatabase

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"


def database_dir_for(root: str | Path, fingerprint_id: str, target_hash: str) -> Path:
    """The database directory of one (device fingerprint, target) under `root`."""
    return Path(root) / f"{fingerprint_id}-{target_hash}"


def database_hash(database_dir: str | Path) -> str:
    """Content hash of the database (workloads + records), 12 hex digits; "empty" without records."""
    d = Path(database_dir)
    h = hashlib.sha256()
    seen = False
    for name in (WORKLOAD_FILE, RECORD_FILE):
        path = d / name
        if path.is_file():
            data = path.read_bytes()
            seen = seen or (name == RECORD_FILE and bool(data.strip()))
            h.update(name.encode() + b"\0" + data)
    return h.hexdigest()[:12] if seen else "empty"


def open_database(database_dir: str | Path) -> JSONDatabase:
    """The MetaSchedule JSON database in `database_dir` (created if missing)."""
    from tvm.s_tir import meta_schedule as ms

    d = Path(database_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
        return ms.database.JSONDatabase(work_dir=str(d), module_equality="structural")
    except OSError as err:
        raise LutnasError(f"tuning database {d}: {err.strerror or err}") from None
    except Exception as err:  # noqa: BLE001 -- TVM raises its own errors for unreadable JSON
        raise LutnasError(f"tuning database {d} cannot be read: {error_line(err, last=True, limit=200)}") from None


def database_records(database_dir: str | Path) -> int:
    """Number of tuning records in the database (lines of its record file)."""
    path = Path(database_dir) / RECORD_FILE
    if not path.is_file():
        return 0
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def apply_database_pass(database_dir: str | Path, target: tvm.target.Target) -> tvm.transform.Pass:
    """A module pass applying the best record of each task found in the database."""
    import tvm
    from tvm import relax

    db = open_database(database_dir)

    @tvm.transform.module_pass(opt_level=0, name="LutnasApplyTuningDatabase")
    def _pass(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        with target, db:
            return relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)

    return _pass
