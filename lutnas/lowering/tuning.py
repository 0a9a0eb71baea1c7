"""MetaSchedule tuning with one persistent, shared database; lutnas's rules are the incumbent.

Apache TVM's MetaSchedule (`tvm.s_tir.meta_schedule`, Shao et al., "Tensor Program Optimization
with Probabilistic Programs", NeurIPS 2022) tunes the fused PrimFuncs ("tasks") that Relax's
legalize + FuseOps/FuseTIR leave behind. The tasks come from `pipeline.fused_module`: the import
(`frontend`) and passes (`pipeline.fusion_passes`) a `lutnas-cpu` build runs, so what is tuned is
what a build looks up. What lutnas adds around it:

- ONE JSON database per (device fingerprint, target) (`lowering.database`), chosen by the caller (lowering cannot import
  the profiler; the CLI derives the directory from `fingerprint_id` and the target hash). Tasks are
  matched structurally, so a task tuned inside one block serves every network containing it, and an
  exported artifact reuses what `profile` tuned.
- The incumbent: before searching, every task's schedule from `lutnas.lowering.rules` is measured
  with the same builder/runner and committed as a record. The database's best record is therefore
  never worse than the rules (up to measurement noise), and a small budget cannot make a build slower.
- Budget: `trials` overall, `trials_per_task` each; tasks are tuned hottest first (rules latency x
  occurrences), one task at a time, so an exhausted budget went where the time is.
- Resumable: JSONDatabase appends each record as it is measured; a re-run counts a task's records
  and tunes only what is missing (a task with `trials_per_task` trials is skipped).
- Building with the database: `apply_database_pass` (MetaScheduleApplyDatabase) schedules every task
  that has records; the rules pass after it schedules the rest. The build records the pipeline name
  `lutnas-cpu+tuned:<database hash>`.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from lutnas.errors import LutnasError
from lutnas.lowering.database import database_hash, open_database
from lutnas.lowering.pipeline import TUNED_PREFIX, fused_module
from lutnas.lowering.targets import TargetSpec
from lutnas.progress import ProgressBar

if TYPE_CHECKING:
    import tvm
    
    from lutnas.lowering.rules import Rule


@dataclass(frozen=True)
class TaskReport:
    name: str
    weight: int                   # occurrences of the task in the module
    rules_ms: float | None        # the rules' schedule, measured by the tuning runner
    best_ms: float | None         # best record in the database after this run
    trials_before: int            # searched trials already in the database
    trials_run: int               # trials measured by this run
    skipped: bool                 # enough trials were already there


@dataclass(frozen=True)
class TuningReport:
    database_dir: str
    target: dict
    threads: int
    trials_budget: int
    trials_per_task: int
    tasks: tuple[TaskReport, ...]
    seconds: float
    database_hash: str
    interrupted: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def trials_run(self) -> int:
        return sum(t.trials_run for t in self.tasks)

    @property
    def pipeline(self) -> str:
        return f"{TUNED_PREFIX}{self.database_hash}"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["trials_run"] = self.trials_run
        out["pipeline"] = self.pipeline
        return out

    @property
    def summary(self) -> str:
        done = sum(1 for t in self.tasks if t.skipped)
        return (f"{len(self.tasks)} tasks ({done} already tuned), {self.trials_run} trials in "
                f"{self.seconds / 60:.1f} min; database {self.database_dir} ({self.database_hash})")


# -- tasks ------------------------------------------------------------------------------------------
def tuning_target(target: tvm.target.Target, threads: int) -> tvm.target.Target:
    """The target MetaSchedule measures with: the build target plus `num-cores` (its search space
    decides parallel extents from it)."""
    import tvm

    cfg = dict(target.export())
    cfg["num-cores"] = int(threads)
    return tvm.target.Target(cfg)


def build_candidate(mod: tvm.IRModule, target: tvm.target.Target) -> Any:
    """MetaSchedule's default builder minus `import tvm.s_tir.tensor_intrin`, which parses every
    tensor intrinsic's TVMScript (measured 30 s to 3 min here) in each fresh builder process
    although CPU float32 schedules never tensorize. Runs in the builder's worker processes."""
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm_build(mod, target=target)


def build_and_export(mod: tvm.IRModule, target: tvm.target.Target) -> str:
    """One candidate, built (`build_candidate`) and exported to a temporary library; in a worker."""
    from tvm.s_tir.meta_schedule.builder.local_builder import default_export

    return default_export(build_candidate(mod, target))


@functools.cache
def pooled_builder_class() -> type:
    """MetaSchedule's LocalBuilder starts a new process pool for every batch (a TVM import each,
    seconds); this builder keeps one pool for a whole tuning run and recycles each worker after
    `uses` builds instead (LocalBuilder's restart guards against a slow leak in long-lived workers).
    Defined on first use (MetaSchedule imports TVM) and once per process."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

    @derived_object
    class PooledBuilder(PyBuilder):
        def __init__(self, workers: int, timeout_s: float, uses: int = 32) -> None:
            super().__init__()
            self.timeout_s = timeout_s
            self.pool = PopenPoolExecutor(max_workers=workers, timeout=timeout_s, maximum_process_uses=uses)

        def build(self, build_inputs: list) -> list:
            out = []
            for res in self.pool.map_with_error_catching(lambda x: build_and_export(*x),
                                                         [(b.mod, b.target) for b in build_inputs]):
                if res.status == StatusKind.COMPLETE:
                    out.append(BuilderResult(res.value, None))
                elif res.status == StatusKind.TIMEOUT:
                    out.append(BuilderResult(None, f"build timed out after {self.timeout_s:.0f} s"))
                else:
                    out.append(BuilderResult(None, f"build failed: {res.value}"))
            return out

        def shutdown(self) -> None:
            self.pool.shutdown()

    return PooledBuilder


class TuningTools:
    """The builder and runner of a tuning run, shared by every `tune` call in it (`profile --tune`
    tunes each block in its own call): their worker processes import TVM once per run, not once
    per block and batch. Created lazily; `close()` (or `with`) ends the workers."""

    def __init__(self, threads: int, workers: int) -> None:
        self.threads = threads
        self.workers = workers
        self._builder: Any = None
        self._runner: Any = None

    @property
    def builder(self) -> Any:
        if self._builder is None:
            self._builder = pooled_builder_class()(max(1, self.workers), 120.0)
        return self._builder

    @property
    def runner(self) -> Any:
        """MetaSchedule's LocalRunner, its worker running TVM with `threads` threads."""
        from tvm.s_tir import meta_schedule as ms

        if self._runner is None:
            self._runner = ms.runner.LocalRunner(
                evaluator_config=ms.runner.EvaluatorConfig(number=3, repeat=3, min_repeat_ms=20),
                initializer=_set_threads(self.threads), timeout_sec=60.0,
            )
        return self._runner

    def close(self) -> None:
        if self._builder is not None:
            self._builder.shutdown()
        if self._runner is not None:
            self._runner.pool.shutdown()
        self._builder = self._runner = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _set_threads(threads: int) -> Callable[[], None]:
    """Initializer for MetaSchedule's runner workers: TVM's pool size is read at first use."""
    return _ThreadsInit(threads)


class _ThreadsInit:
    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __call__(self) -> None:
        os.environ["TVM_NUM_THREADS"] = str(self.threads)


# -- tuning -----------------------------------------------------------------------------------------
def tune(
    model: Any,
    input_shape: tuple[int, ...],
    target: TargetSpec | tvm.target.Target,
    database_dir: str | Path,
    *,
    trials: int,
    trials_per_task: int | None = None,
    workers: int = 2,
    threads: int = 1,
    progress: bool = True,
    seed: int = 0,
    rules: list[Rule] | None = None,
    tools: TuningTools | None = None,
) -> TuningReport:
    """Tune the fused tasks of `model` into the database in `database_dir`.

    `target` is a lowering `TargetSpec` (or a tvm Target); `threads` is the thread count the
    runtime will use (tables are per thread count, and the best schedule depends on it).
    `trials` is the overall budget of new measurements; `trials_per_task` (default: an even share,
    at least 8) caps each task. KeyboardInterrupt stops after the current batch; the records
    measured so far stay in the database. `tools`: a builder and runner shared with other calls
    (default: this call's own, closed at its end).
    """
    from lutnas.lowering.rules import default_cpu_rules

    if trials < 0 or (trials_per_task is not None and trials_per_task < 1):
        raise LutnasError(f"tuning budget must be >= 0 trials (per task >= 1), got {trials}/{trials_per_task}")
    started = time.time()
    tvm_target = target.tvm_target() if isinstance(target, TargetSpec) else target
    mod = fused_module(model, input_shape, tvm_target)
    if tools is not None and tools.threads != threads:
        raise LutnasError(f"tuning tools run {tools.threads} thread(s), this tuning {threads}")
    own_tools = tools is None
    tools = tools or TuningTools(threads, workers)
    try:
        session = _Session(database_dir, tvm_target, threads, seed, rules or default_cpu_rules(), tools)
        return _tune_session(session, mod, trials, trials_per_task, progress, started)
    finally:
        if own_tools:
            tools.close()


def _tune_session(session: _Session, mod: Any, trials: int, trials_per_task: int | None, progress: bool,
                  started: float) -> TuningReport:
    tasks = session.extract(mod)
    per_task = trials_per_task or max(8, trials // max(1, len(tasks)))
    notes: list[str] = []
    reports: dict[str, TaskReport] = {}
    interrupted = False
    with ProgressBar("rules schedules measured", len(tasks), enabled=progress, elapsed=True) as bar:
        trials_row = bar.add_row("tuning trials", max(trials, 1))
        try:
            session.ensure_incumbents(tasks)  # incumbents first: cheap, and they order the search
            bar.advance(len(tasks))
            budget = trials
            for task in sorted(tasks, key=lambda t: -(t.rules_s or 0.0) * t.weight):
                before = session.searched(task)
                todo = min(per_task - before, budget) if budget > 0 else 0
                ran = session.search(task, todo, bar, trials_row) if todo > 0 else 0
                budget -= ran
                reports[task.name] = _report(session, task, before, ran, skipped=before >= per_task)
        except KeyboardInterrupt:
            interrupted = True
            notes.append("interrupted: the records measured so far are kept; re-run to resume")
    for task in tasks:  # tasks not reached (budget or interrupt)
        if task.name not in reports:
            before = session.searched(task)
            reports[task.name] = _report(session, task, before, 0, skipped=before >= per_task)
    return TuningReport(
        database_dir=str(session.dir), target=dict(session.build_target.export()), threads=session.threads,
        trials_budget=trials, trials_per_task=per_task, tasks=tuple(reports[t.name] for t in tasks),
        seconds=time.time() - started, database_hash=database_hash(session.dir),
        interrupted=interrupted, notes=tuple(notes),
    )


def _report(session: _Session, task: _Task, before: int, ran: int, skipped: bool) -> TaskReport:
    best = session.best_seconds(task)
    return TaskReport(
        name=task.name, weight=task.weight,
        rules_ms=None if task.rules_s is None else task.rules_s * 1e3,
        best_ms=None if best is None else best * 1e3,
        trials_before=before, trials_run=ran, skipped=skipped,
    )


@dataclass
class _Task:
    name: str
    mod: Any          # IRModule {"main": PrimFunc}
    weight: int
    workload: Any = None
    rules_s: float | None = None


class _Session:
    """Builder, runner and database shared by every task of one `tune` call."""

    INCUMBENT_ATTR = "lutnas_incumbent"

    def __init__(self, database_dir: str | Path, target: tvm.target.Target, threads: int, seed: int,
                 rules: list[Rule], tools: TuningTools) -> None:
        self.dir = Path(database_dir)
        self.db = open_database(self.dir)
        self.target = tuning_target(target, threads)
        self.build_target = target
        self.threads = threads
        self.seed = seed
        self.rules = rules
        self.tools = tools

    @property
    def builder(self) -> Any:
        return self.tools.builder

    @property
    def runner(self) -> Any:
        return self.tools.runner

    def extract(self, mod: Any) -> list[_Task]:
        from tvm.s_tir import meta_schedule as ms

        out = []
        for t in ms.relax_integration.extract_tasks(mod, self.target):
            task_mod = t.dispatched[0]
            if _without_reduction(task_mod):
                continue
            out.append(_Task(t.task_name, task_mod, int(t.weight), self.db.commit_workload(task_mod)))
        return out

    # records -----------------------------------------------------------------------------------
    def _records(self, task: _Task) -> list[Any]:
        return list(self.db.get_top_k(task.workload, 1 << 20))

    def searched(self, task: _Task) -> int:
        """Trials of this task the search has spent, failed ones included (the incumbent excluded).
        `get_top_k` leaves out records whose build or run failed; counting only those made a rerun
        spend its budget again on a task whose trial had failed under load."""
        return sum(1 for r in self.db.get_all_tuning_records()
                   if r.workload.same_as(task.workload) and not _is_incumbent(r))

    def best_seconds(self, task: _Task) -> float | None:
        recs = self._records(task)
        if not recs or not recs[0].run_secs:
            return None
        return float(sum(float(s) for s in recs[0].run_secs) / len(recs[0].run_secs))

    # the incumbent -----------------------------------------------------------------------------
    def ensure_incumbents(self, tasks: list[_Task]) -> None:
        """Measure the rules' schedule of every task that has none in the database yet, in one
        build batch and one run batch, and commit each as a record."""
        from lutnas.lowering.rules import apply_rules

        todo = []
        for task in tasks:
            mine = [r for r in self._records(task) if _is_incumbent(r)]
            if mine:
                task.rules_s = _mean(mine[0].run_secs)
                continue
            sch, _name = apply_rules(task.mod["main"], self.build_target, self.rules)
            if sch is not None:
                sch.annotate(sch.get_sblock("root"), _MARK, 1)  # traced: tells the incumbent apart
                todo.append((task, sch))
        for (task, sch), secs in zip(todo, self._measure([sch.mod for _, sch in todo]), strict=True):
            if secs is not None:
                task.rules_s = _mean(secs)
                self.db.commit_tuning_record(_record(sch, task, secs, self.target))

    def _measure(self, mods: list[Any]) -> list[list[float] | None]:
        from tvm.s_tir.meta_schedule.arg_info import ArgInfo
        from tvm.s_tir.meta_schedule.builder import BuilderInput
        from tvm.s_tir.meta_schedule.runner import RunnerInput

        if not mods:
            return []
        built = self.builder.build([BuilderInput(m, self.target) for m in mods])
        ok = [(i, b) for i, b in enumerate(built) if not b.error_msg]
        # the arguments as the built function takes them: weights the rules repack arrive packed
        futures = self.runner.run([RunnerInput(b.artifact_path, "cpu", ArgInfo.from_entry_func(mods[i], True))
                                   for i, b in ok])
        out: list[list[float] | None] = [None] * len(mods)
        for (i, b), fut in zip(ok, futures, strict=True):
            res = fut.result()
            if not res.error_msg and res.run_secs:
                out[i] = [float(x) for x in res.run_secs]
            # the builder's folder for this artifact: MetaSchedule's own loop removes it in a measure
            # callback (RemoveBuildArtifact), which this direct measurement does not run
            shutil.rmtree(Path(b.artifact_path).parent, ignore_errors=True)
        return out

    # the search --------------------------------------------------------------------------------
    def search(self, task: _Task, trials: int, bar: ProgressBar, row: int) -> int:
        """Run up to `trials` MetaSchedule trials on `task`; returns the number measured."""
        from tvm.s_tir import meta_schedule as ms

        before = self.searched(task)
        with _without_tensor_intrinsics(self.target):
            ctx = ms.TuneContext(
                mod=task.mod, target=self.target, space_generator="post-order-apply",
                search_strategy=_strategy(trials), task_name=task.name, num_threads=max(1, self.threads),
                rand_state=self.seed,
            )
        bar.describe(f"tuning {task.name[:40]} ({trials} trials)", row)
        with _quiet_logs():
            ms.tune.tune_tasks(
                tasks=[ctx], task_weights=[1.0], work_dir=str(self.dir / "logs"),
                max_trials_global=trials, max_trials_per_task=trials,
                num_trials_per_iter=min(64, max(2, trials)),
                builder=self.builder, runner=self.runner, database=self.db,
                cost_model="xgb", measure_callbacks="default", task_scheduler="round-robin",
            )
        ran = self.searched(task) - before
        bar.advance(ran, row)
        return ran


_INTRIN_MODULE = "tvm.s_tir.tensor_intrin"
_DOT_FEATURES = ("avx512vnni", "avxvnni", "dotprod", "i8mm", "sme")


class _without_tensor_intrinsics:
    """`TuneContext()` imports `tvm.s_tir.tensor_intrin`, which parses ~250 TVMScript intrinsics
    with `inspect.stack()` each (measured 3 to 4.5 minutes on this 2-core machine). MetaSchedule's
    CPU rules only tensorize on targets with dot-product instructions, so for any other target the
    import is replaced by an empty module for the duration of the call (and removed again)."""

    def __init__(self, target: tvm.target.Target) -> None:
        self.target = target
        self.stub = None

    def __enter__(self) -> None:
        import sys
        import types

        if _INTRIN_MODULE in sys.modules or _has_dot_product(self.target):
            return
        self.stub = types.ModuleType(_INTRIN_MODULE, "placeholder: no tensor intrinsics on this target")
        sys.modules[_INTRIN_MODULE] = self.stub

    def __exit__(self, *exc: object) -> None:
        import sys

        if self.stub is not None and sys.modules.get(_INTRIN_MODULE) is self.stub:
            del sys.modules[_INTRIN_MODULE]


def _without_reduction(task_mod: Any) -> bool:
    """Whether a task is only copies and elementwise steps (the channels-last layout's transposes, a
    reshape): memory-bound loops the rules vectorize, where trials buy nothing; leaving them out
    keeps the budget for convolutions (a block had 5 tasks in NHWC, 2 of them transposes)."""
    from lutnas.lowering.rules.base import analyse

    funcs = [f for _gv, f in task_mod.functions_items()]
    parts = analyse(funcs[0]) if len(funcs) == 1 else None
    return parts is not None and parts.reduction is None


def _has_dot_product(target: tvm.target.Target) -> bool:
    from tvm.target.codegen import llvm_cpu_has_features

    for feature in _DOT_FEATURES:
        try:
            if llvm_cpu_has_features(feature, target):
                return True
        except Exception:  # noqa: BLE001, S112 -- a feature of another architecture
            continue
    return False


def _strategy(trials: int) -> Any:
    """MetaSchedule's evolutionary search, with its population scaled to the budget: the default
    (512 candidates, 4 generations, every one post-processed and scored) costs minutes per batch
    on 2 loaded cores, which a budget of a few dozen trials cannot use."""
    from tvm.s_tir import meta_schedule as ms

    return ms.search_strategy.EvolutionarySearch(
        population_size=int(min(512, max(64, 8 * trials))),
        init_min_unmeasured=int(min(50, max(16, 2 * trials))),
        genetic_num_iters=2 if trials < 64 else 4,
    )


def _record(sch: Any, task: _Task, secs: list[float], target: tvm.target.Target) -> Any:
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo

    return ms.database.TuningRecord(sch.trace, task.workload, secs, target, ArgInfo.from_prim_func(task.mod["main"]))


def _mean(secs: Any) -> float | None:
    vals = [float(s) for s in (secs or [])]
    return sum(vals) / len(vals) if vals else None


# The incumbent is recognised by its trace: an annotation no MetaSchedule rule writes.
_MARK = "lutnas.rules"


def _is_incumbent(rec: Any) -> bool:
    for inst in rec.trace.insts:
        if inst.kind.name == "Annotate" and len(inst.attrs) and str(inst.attrs[0]) == _MARK:
            return True
    return False


class _quiet_logs:
    """MetaSchedule logs every iteration at INFO to its task loggers; keep the terminal for rich."""

    def __enter__(self) -> None:
        import logging

        self._logger = logging.getLogger("tvm.s_tir.meta_schedule")
        self._level = self._logger.level
        self._logger.setLevel(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)
