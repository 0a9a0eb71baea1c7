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
from typing import TYPE_CHECKING, Any

from lutnas.latency_tables.jobs import export_block
from lutnas.latency_tables.settings import ProfileSettings

if TYPE_CHECKING:
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.spaces import Block, SearchSpace


def default_tuning_root() -> Path:
    from lutnas.paths import cache_dir

    return cache_dir("tuning")


def tuning_db_for(target: TargetSpec, threads: int, root: str | Path | None = None, runtime: str = "tvm") -> Path:
    """The database directory of this device (fingerprint id) and `target` under `root`."""
    from lutnas.lowering.database import database_dir_for
    from lutnas.profiler.fingerprint import fingerprint

    fp = fingerprint(target, runtime, threads)
    return database_dir_for(root or default_tuning_root(), fp["fingerprint_id"], target.target_hash())


def table_tuning_db(table: LatencyTable) -> Path | None:
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


def tune_blocks(blocks: dict[str, Block], target: TargetSpec, database_dir: Path, *, trials: int, threads: int,
                work_dir: Path, progress: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tune every block (key -> Block) for `trials` trials into `database_dir`; resumable (tasks
    already tuned in the database cost nothing). Returns (what the table options record: trials per
    block and the database hash, both part of the table identity; a report of this run)."""
    from lutnas.lowering.database import database_hash
    from lutnas.lowering.tuning import TuningTools, tune
    from lutnas.progress import iter_progress

    run = 0
    seconds = 0.0
    with TuningTools(threads, workers=2) as tools:     # one set of builder/runner workers for every block
        for block in iter_progress(blocks.values(), len(blocks), "tuning blocks", progress, transient=False):
            path = export_block(block, work_dir)
            rep = tune(path, block.input_shape, target, database_dir, trials=trials, threads=threads,
                       progress=False, tools=tools)
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
    settings: ProfileSettings  # extra["tuning"] records the tuning (table identity)
    blocks: int
    trials_run: int
    tuning_s: float

    def line(self) -> str:
        return (f"tuned {self.blocks} block(s): {self.trials_run} new trial(s) in {self.tuning_s / 60:.1f} min; "
                f"database {self.database_dir} ({self.database_hash})")


def tune_table(space: str | SearchSpace, resolution: int, target: TargetSpec, runtime: str, threads: int,
               trials: int, root: str | Path | None, settings: ProfileSettings, work_dir: Path,
               progress: bool = True) -> TunedTable:
    """Tune every unique block of a table into this device's database, ready for `profile_table`."""
    from lutnas.errors import LutnasError
    from lutnas.lowering.pipeline import TUNED_PREFIX
    from lutnas.spaces import resolve_space

    if runtime != "tvm":
        raise LutnasError("--tune applies to the tvm runtime only")
    space = resolve_space(space)
    blocks = space.layer_table(space.check_resolution(resolution), width_mult=settings.width_mult,
                               num_classes=settings.num_classes).unique_blocks()
    db_dir = tuning_db_for(target, threads, root)
    options, info = tune_blocks(blocks, target, db_dir, trials=trials, threads=threads, work_dir=work_dir,
                                progress=progress)
    settings = dataclasses.replace(settings, extra={**settings.extra, "tuning": options})
    return TunedTable(f"{TUNED_PREFIX}{options['database_hash']}", db_dir, options["database_hash"], settings,
                      len(blocks), info["trials_run"], info["tuning_s"])

