"""Tuned tables and artifacts: where the shared MetaSchedule database lives, and tuning a table's blocks.

One database per (device fingerprint, target) (lutnas.lowering.tuning): `profile --tune` tunes every
unique block of the table into it and builds the blocks with `lutnas-cpu+tuned:<db hash>`; `export
--tune` tunes the whole network into the same database, so the tasks a table already tuned are reused
(structural match) and only new ones cost trials. The table records what it was built with in its
options (`extra["tuning"]`: trials per block, database hash and directory), so a tuned table and an
untuned one never merge, and `validate` / `export` know which schedules the table describes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def default_tuning_root() -> Path:
    from lutnas.paths import cache_dir

    return cache_dir("tuning")


def tuning_db_for(target: Any, threads: int, root: str | Path | None = None, runtime: str = "tvm") -> Path:
    """The database directory of this device (fingerprint id) and `target` under `root`."""
    from lutnas.lowering.tuning import database_dir_for
    from lutnas.profiler.fingerprint import fingerprint

    fp = fingerprint(target, runtime, threads)
    return database_dir_for(root or default_tuning_root(), fp["fingerprint_id"], target.target_hash())


def table_tuning_db(table: Any) -> Path | None:
    """The database a tuned table was compiled with (recorded, else this device's under the default root)."""
    from lutnas.lowering.pipeline import TUNED_PREFIX
    from lutnas.lowering.targets import target_from_json

    meta = table.meta
    if not meta.pipeline.startswith(TUNED_PREFIX):
        return None
    recorded = (meta.options.get("extra") or {}).get("tuning", {}).get("database")
    if recorded:
        return Path(recorded)
    return tuning_db_for(target_from_json(meta.target_name, meta.target_json), meta.threads)


def tune_blocks(blocks: dict[str, Any], target: Any, database_dir: Path, *, trials: int, threads: int,
                work_dir: Path, progress: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tune every block (key -> Block) for `trials` trials into `database_dir`; resumable (tasks
    already tuned in the database cost nothing). Returns (what the table options record: trials per
    block and the database hash, both part of the table identity; a report of this run)."""
    from lutnas.latency_tables.profile import _export_block, _safe
    from lutnas.latency_tables.progress import iter_progress
    from lutnas.lowering.tuning import database_hash, tune

    onnx_dir = Path(work_dir) / "onnx"
    run = 0
    seconds = 0.0
    for key, block in iter_progress(blocks.items(), len(blocks), "tuning blocks", progress, transient=False):
        path = _export_block(block, onnx_dir / f"{_safe(key)}.onnx")
        rep = tune(path, block.input_shape, target, database_dir, trials=trials, threads=threads, progress=False)
        run += rep.trials_run
        seconds += rep.seconds
    options = {"trials_per_block": trials, "database_hash": database_hash(database_dir)}
    return options, {"trials_run": run, "tuning_s": round(seconds, 1), "database": str(database_dir)}


@dataclass(frozen=True)
class TunedTable:
    """What `profile --tune` builds the table with: the pipeline name, database and settings."""

    pipeline: str            # lutnas-cpu+tuned:<database hash>
    database_dir: Path
    database_hash: str
    settings: Any            # ProfileSettings whose extra["tuning"] records the tuning (table identity)
    blocks: int
    trials_run: int
    tuning_s: float


def tune_table(space: Any, resolution: int, target: Any, runtime: str, threads: int, trials: int,
               root: str | Path | None, settings: Any, work_dir: Path, progress: bool = True) -> TunedTable:
    """Tune every unique block of a table into this device's database, ready for `profile_table`."""
    from lutnas.errors import LutnasError
    from lutnas.lowering.pipeline import TUNED_PREFIX
    from lutnas.spaces import get_space

    if runtime != "tvm":
        raise LutnasError("--tune applies to the tvm runtime only")
    space = get_space(space) if isinstance(space, str) else space
    blocks = space.layer_table(space.check_resolution(resolution), width_mult=settings.width_mult,
                               num_classes=settings.num_classes).unique_blocks()
    db_dir = tuning_db_for(target, threads, root)
    options, info = tune_blocks(blocks, target, db_dir, trials=trials, threads=threads, work_dir=work_dir,
                                progress=progress)
    settings = dataclasses.replace(settings, extra={**settings.extra, "tuning": options})
    return TunedTable(f"{TUNED_PREFIX}{options['database_hash']}", db_dir, options["database_hash"], settings,
                      len(blocks), info["trials_run"], info["tuning_s"])

