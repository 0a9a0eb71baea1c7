"""`lutnas profile` as one stage function: tune -> compile (only) -> measure -> fit.

`make_table(TableRequest, runner)` runs the steps a table build was asked for, in order:
1. tune every unique block into this device's MetaSchedule database (`tuned.tune_table`), when
   `tune_trials` is set; the table is then built with the tuned pipeline and records the tuning;
2. with `compile_only`, export and compile every block into the caches and stop (`profile.
   compile_blocks`: for devices that cannot compile);
3. measure the blocks into the table (`profile.profile_table`; resumable), then say how its entries
   repeated across passes and, when many stayed unstable, what accuracy the table supports
   (`repeatability.table_repeatability`; the warning goes to stderr); an in-network table also
   scores its covering networks, each left out in turn (`covering.covering_fit`): what to expect
   on networks it never saw;
4. time the space's covering networks whole and keep them with the table, whose blocks then
   predict in their network's context (`network_context`; default for TVM tables of channels-last
   blocks, `network_context.default_context`), when the blocks changed or none are stored;
5. fit the finished table to whole networks and store the fit (`network_fit`), `fit_networks` of
   them (default: `network_fit.default_fit_count`, none where the context was measured).
Steps 4 and 5 skip a table left unfinished (`limit`).
Each finished step is said as a line (`say`), and all of them are returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lutnas.latency_tables.jobs import work_dir_for
from lutnas.latency_tables.settings import ProfileResult, ProfileSettings
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.progress import Say, silent

if TYPE_CHECKING:
    from lutnas.latency_tables.calibration import Calibration
    from lutnas.latency_tables.covering import CoveringFit
    from lutnas.latency_tables.network_context import ContextFactors
    from lutnas.latency_tables.repeatability import TableRepeatability
    from lutnas.latency_tables.tuned import TunedTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import Runner
    from lutnas.spaces import SearchSpace


@dataclass(frozen=True)
class TableRequest:
    """What `lutnas profile` was asked for (the CLI's options, parsed)."""

    space: str | SearchSpace
    resolution: int
    target: TargetSpec
    runtime: str
    db: Path
    threads: int = 1
    pipeline: str = DEFAULT_PIPELINE
    settings: ProfileSettings = field(default_factory=ProfileSettings)
    workers: int = 2
    remeasure: bool = False
    limit: int | None = None            # measure only the first N entries (the table stays unfinished)
    compile_only: bool = False
    tune_trials: int | None = None      # MetaSchedule trials per block (None: no tuning)
    tuning_root: Path | None = None
    fit_networks: int | None = None     # None: `default_fit_count`
    context: bool | None = None         # None: `network_context.default_context`


@dataclass(frozen=True)
class TableBuild:
    """What `make_table` did: each step's result, None for a step that did not run."""

    tuned: TunedTable | None = None
    compiled_blocks: int | None = None   # compile_only: blocks exported and compiled
    profiled: ProfileResult | None = None
    fit: Calibration | None = None
    repeatability: TableRepeatability | None = None
    context: ContextFactors | None = None
    covering: CoveringFit | None = None


def make_table(req: TableRequest, runner: Runner | None = None, *, progress: bool = False,
               say: Say = silent) -> TableBuild:
    """Run the steps of `lutnas profile` for `req`; `runner` times the blocks (here by default)."""
    from lutnas.latency_tables.profile import compile_blocks, profile_table

    work_dir = work_dir_for(req.db)
    pipeline, settings, db_dir, tuned = req.pipeline, req.settings, None, None
    if req.tune_trials is not None:
        tuned = _tune(req, work_dir, progress)
        say(tuned.line())
        pipeline, settings, db_dir = tuned.pipeline, tuned.settings, tuned.database_dir
    if req.compile_only:
        n = compile_blocks(req.space, req.resolution, req.target, pipeline=pipeline, workers=req.workers,
                           settings=settings, work_dir=work_dir, progress=progress, tuning_db=db_dir)
        say(f"compiled {n} block(s) for {req.target.name} into {work_dir} and the library cache; nothing measured")
        return TableBuild(tuned, n)
    result = profile_table(req.space, req.resolution, req.target, req.runtime, req.db, threads=req.threads,
                           pipeline=pipeline, remeasure=req.remeasure, workers=req.workers, settings=settings,
                           progress=progress, limit=req.limit, runner=runner, tuning_db=db_dir)
    say(f"table {result.table_id} in {result.db_path}")
    say(result.line())
    repeat, covering = _repeatability(req.db, result.table_id, say)
    context = _context(req, result, pipeline, runner, db_dir, progress, say)
    fit = _fit(req, result, pipeline, runner, db_dir, progress, say, context_measured=context is not None)
    return TableBuild(tuned, None, result, fit, repeat, context, covering)


def _repeatability(db: Path, table_id: str, say: Say) -> tuple[TableRepeatability, CoveringFit | None]:
    """How the entries repeated across passes (a warning with what the table supports when many stayed
    unstable) and, for an in-network table, how it predicts its covering networks left out in turn."""
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.covering import covering_of
    from lutnas.latency_tables.repeatability import table_repeatability

    table = open_table(db, table_id)
    try:
        repeat = table_repeatability(table)
        in_network = table.meta.options.get("measure_mode") == "in-network"
        footprint = table.footprint_check(table.dense(context=False)) if in_network else None
        covering = covering_of(table, footprint) if in_network else None
    finally:
        table.close()
    first, *warnings = repeat.lines()
    say(first)
    if footprint is not None:
        say(footprint.line())
    if covering is not None:   # what whole networks get says more than entries that differ by context
        say(covering.line())
        warnings = [w for w in (covering.warning(),) if w]
    for line in warnings:
        say(line, err=True)
    return repeat, covering


def _tune(req: TableRequest, work_dir: Path, progress: bool) -> TunedTable:
    from lutnas.latency_tables.tuned import tune_table

    return tune_table(req.space, req.resolution, req.target, req.runtime, req.threads, req.tune_trials or 0,
                      req.tuning_root, req.settings, work_dir, progress=progress)


def _context(req: TableRequest, result: ProfileResult, pipeline: str, runner: Runner | None, db_dir: Path | None,
             progress: bool, say: Say) -> ContextFactors | None:
    """Step 4: the covering networks timed whole, when the blocks changed, none are stored or the
    stored ones predate the footprint fit (no block weights); None when the table has no context."""
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.network_context import (
        context_factors,
        context_weights,
        default_context,
        measure_context,
        stored_context,
    )

    wanted = default_context(req.runtime, pipeline) if req.context is None else req.context
    if not wanted or req.limit is not None:
        return None
    if req.context is None and runner is not None and not runner.interleaves:
        say(f"context: not measured ({runner.where} hands each job to any free board, and the context needs "
            "networks and blocks in one device's time windows); the default network fit stands in")
        return None
    table = open_table(req.db, result.table_id)
    try:
        ctx = stored_context(table)
        if ctx is None or result.passes > 0 or not ctx.block_mb:   # none, stale, or before the footprint fit
            ctx = measure_context(table, runner=runner, tuning_db=db_dir, progress=progress)
        factors = context_factors(table.blocks_dense(ctx), ctx, context_weights(table.layout(), ctx))
    finally:
        table.close()
    say(factors.line())
    return factors


def _fit(req: TableRequest, result: ProfileResult, pipeline: str, runner: Runner | None, db_dir: Path | None,
         progress: bool, say: Say, *, context_measured: bool = False) -> Calibration | None:
    """Step 5: the whole-network fit of a finished table (None when there is none to make); by
    default none where the table's context was measured (its plain prediction is in-network)."""
    from lutnas.latency_tables.network_fit import default_fit_count, fit_line, fit_stored_table

    if req.fit_networks is None:
        count = 0 if context_measured else default_fit_count(req.runtime, pipeline)
    else:
        count = req.fit_networks
    if not count or req.limit is not None:
        return None
    cal = fit_stored_table(req.db, result.table_id, count, runner=runner, tuning_db=db_dir, progress=progress)
    say(fit_line(cal))
    return cal
