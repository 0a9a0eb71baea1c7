"""Build a latency lookup table for one device: the LUT builder of ProxylessNAS / FBNet / OFA, resumable.

`profile_table(space, resolution, target, runtime, db_path)` measures every unique block of the
space's `layer_table(resolution)` (equal keys dedupe) plus the fixed blocks (stem, fixed, head):
1. export each block to ONNX once (cached by key in a work dir next to the db, or under LUTNAS_CACHE);
2. compile ALL of them first in worker processes (`profiler.workers.compile_many`; never time while
   compiling), for the TVM runtime;
3. measure in this process: pass 1 over every entry not measured yet, then further passes only over
   entries whose stability verdict asks for more (rounds over the whole set, so a re-measure is not
   back-to-back with the pass it repeats). Each pass is committed to SQLite the moment it exists,
   so `kill -9` loses at most the pass in flight and a re-run resumes where it stopped.

The runner is any `profiler.runners.Runner`; its `describe()` is the table's device fingerprint,
part of the table identity, so a re-run on another device or software stack makes a new table
instead of mixing measurements. How a block becomes a `MeasureJob` lives in `jobs.py` alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.latency_tables.jobs import (
    NETWORK_BOUNDARIES,
    block_jobs,
    image_keys,
    network_boundaries,
    work_dir_for,
)
from lutnas.latency_tables.settings import ProfileResult, ProfileSettings
from lutnas.latency_tables.stats import check_estimator
from lutnas.latency_tables.store import Store, TableMeta, table_id_of
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.rounds import RoundHooks, measure_in_rounds
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, verdict
from lutnas.progress import ProgressBar

if TYPE_CHECKING:
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import Runner
    from lutnas.spaces import SearchSpace

def profile_table(
    space: str | SearchSpace, resolution: int, target: str | TargetSpec, runtime: str, db_path: str | Path, *,
    threads: int = 1, pipeline: str = DEFAULT_PIPELINE, runner: Runner | None = None, remeasure: bool = False,
    policy: StabilityPolicy = DEFAULT_POLICY, progress: bool = True, workers: int = 2,
    settings: ProfileSettings | None = None, work_dir: str | Path | None = None, limit: int | None = None,
    tuning_db: str | Path | None = None,
) -> ProfileResult:
    """Measure (or finish measuring) the table of (space, resolution, target, runtime) into `db_path`.

    `limit` measures only the first N entries (fixed blocks first, then layer order) and leaves the
    rest recorded but unmeasured: for smoke tests; `dense()` names what is missing until a run
    without a limit finishes the table.
    """
    from lutnas.lowering.targets import resolve_target
    from lutnas.profiler.runners import LocalRunner
    from lutnas.spaces import resolve_space

    space, target = resolve_space(space), resolve_target(target)
    settings = settings or ProfileSettings()
    check_estimator(settings.estimator)
    resolution = space.check_resolution(resolution)
    layout = space.layer_table(resolution, width_mult=settings.width_mult, num_classes=settings.num_classes)
    runner = runner or LocalRunner(target, runtime, threads, policy)
    db_path = Path(db_path)
    store = Store(db_path, create=True)
    try:
        meta = _table_meta(space.name, resolution, target, runtime, threads, pipeline,
                           runner.describe(), table_options(settings, policy, pipeline, runtime))
        store.ensure_table(meta)
        blocks = layout.unique_blocks()
        ids = store.ensure_entries(meta.id, [(k, b.spec.encode(), b.input_shape, layout.role(k))
                                             for k, b in blocks.items()])
        passes = _passes_by_key(store, meta.id, ids)
        if settings.measure_mode == "in-network":  # blocks timed inside covering networks (context.py)
            from lutnas.latency_tables.context import check_method, profile_into_store

            check_method(settings.measure_mode, runtime)
            return profile_into_store(store, meta.id, ids, space, resolution, runner=runner, settings=settings,
                                      threads=threads, progress=progress, remeasure=remeasure, policy=policy,
                                      work_dir=Path(work_dir) if work_dir else work_dir_for(db_path))
        wanted = list(blocks)[:limit] if limit is not None else list(blocks)
        first = [k for k in wanted if remeasure or not passes[k]]
        more = [k for k in wanted if k not in first and verdict(passes[k], policy).needs_more]
        todo = first + more
        t0 = time.perf_counter()
        jobs = block_jobs({k: blocks[k] for k in todo}, runtime=runtime, target=target, threads=threads,
                          settings=settings, work_dir=Path(work_dir) if work_dir else work_dir_for(db_path),
                          pipeline=pipeline, workers=workers, progress=progress, tuning_db=tuning_db,
                          image_keys=image_keys(layout),
                          boundaries=meta.options.get("block_boundaries") == NETWORK_BOUNDARIES)
        t1 = time.perf_counter()
        added = _measure_rounds(store, runner, jobs, ids, passes, first, policy, progress)
        t2 = time.perf_counter()
        unstable = sum(1 for k in blocks if passes[k] and not verdict(passes[k], policy).stable)
        return ProfileResult(meta.id, db_path, len(blocks), len({k for k, _ in added}), len(wanted) - len(todo),
                             len(added), unstable, t1 - t0, t2 - t1)
    finally:
        store.close()


def compile_blocks(
    space: str | SearchSpace, resolution: int, target: str | TargetSpec, *, pipeline: str = DEFAULT_PIPELINE, workers: int = 2,
    settings: ProfileSettings | None = None, work_dir: str | Path, progress: bool = True,
    tuning_db: str | Path | None = None,
) -> int:
    """Export and compile every block of a table into the caches, and measure nothing.

    For devices that run but cannot compile (a runtime-only GPU host, a board): run this where TVM's
    compiler is, with LUTNAS_CACHE pointing at a directory, copy that directory to the device, and
    `profile_table` there finds every ONNX file and library cached. No table is written here, since
    this machine is not the device. Returns the number of blocks.
    """
    from lutnas.lowering.targets import resolve_target
    from lutnas.spaces import resolve_space

    space, target = resolve_space(space), resolve_target(target)
    settings = settings or ProfileSettings()
    layout = space.layer_table(space.check_resolution(resolution), width_mult=settings.width_mult,
                               num_classes=settings.num_classes)
    jobs = block_jobs(layout.unique_blocks(), runtime="tvm", target=target, threads=1, settings=settings,
                      work_dir=Path(work_dir), pipeline=pipeline, workers=workers, progress=progress,
                      tuning_db=tuning_db, image_keys=image_keys(layout),
                      boundaries=network_boundaries(pipeline, "tvm"))
    return len(jobs)


def table_options(settings: ProfileSettings, policy: StabilityPolicy, pipeline: str, runtime: str) -> dict[str, Any]:
    """What a new table records of how it was measured (part of its identity): the settings, the
    policy, and whether its blocks have their network's channels-last boundaries (`jobs.BlockBoundary`)."""
    options = settings.options(policy)
    if network_boundaries(pipeline, runtime):
        options["block_boundaries"] = NETWORK_BOUNDARIES
    return options


# -- helpers -----------------------------------------------------------------------------------------
def _table_meta(space: str, resolution: int, target: TargetSpec, runtime: str, threads: int, pipeline: str,
                fp: dict[str, Any], options: dict[str, Any]) -> TableMeta:
    from lutnas.latency_tables.store import table_identity

    ident = table_identity(space, resolution, target.canonical_json(), runtime, threads, pipeline,
                           fp["fingerprint_id"], options)
    return TableMeta(table_id_of(ident), space, resolution, target.name, target.canonical_json(),
                     target.target_hash(), runtime, int(threads), pipeline, fp, fp["fingerprint_id"],
                     options, time.time())


def _passes_by_key(store: Store, table_id: str, ids: dict[str, int]) -> dict[str, list]:
    by_id: dict[int, list] = {i: [] for i in ids.values()}
    for p in store.passes(table_id):
        by_id.setdefault(p.entry_id, []).append(p.measurement)
    return {k: by_id[i] for k, i in ids.items()}


def _measure_rounds(store: Store, runner: Runner, jobs: dict[str, MeasureJob], ids: dict[str, int],
                    passes: dict[str, list], first: list[str], policy: StabilityPolicy,
                    progress: bool) -> list[tuple[str, int]]:
    """`measure_in_rounds` over the jobs, every pass committed to the store as it arrives.

    Round 1 covers `first` plus entries that need more; later rounds only those that still do.
    `passes` is updated in place (the caller counts unstable entries from it).
    """
    keys, first_keys = list(jobs), set(first)
    added: list[tuple[str, int]] = []
    runner_name = runner.name
    with ProgressBar("measuring", len(keys), enabled=progress and len(keys) > 0, transient=True) as bar:
        def store_pass(i: int, m: Measurement) -> None:
            added.append((keys[i], store.add_pass(ids[keys[i]], m, runner=runner_name)))

        hooks = RoundHooks(on_pass=store_pass, on_settled=lambda i: bar.advance(),
                           on_round=lambda r, n: bar.describe(f"measuring (round {r}, {n} block(s))"))
        taken = measure_in_rounds(runner, [jobs[k] for k in keys], policy, prior=[passes[k] for k in keys],
                                  fresh={i for i, k in enumerate(keys) if k in first_keys}, hooks=hooks)
    passes.update(zip(keys, taken))
    return added
