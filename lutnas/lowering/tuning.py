"""MetaSchedule tuning with one persistent, shared database; lutnas's rules are the incumbent.

Apache TVM's MetaSchedule (`tvm.s_tir.meta_schedule`, Shao et al., "Tensor Program Optimization
with Probabilistic Programs", NeurIPS 2022) tunes the fused PrimFuncs ("tasks") that Relax's
legalize + FuseOps/FuseTIR leave behind. What lutnas adds around it:

- ONE JSON database per (device fingerprint, target), chosen by the caller (lowering cannot import
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

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from lutnas.errors import LutnasError

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"


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
        from lutnas.lowering.pipeline import TUNED_PREFIX

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


# -- the database -----------------------------------------------------------------------------------
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


def open_database(database_dir: str | Path) -> Any:
    """The MetaSchedule JSON database in `database_dir` (created if missing)."""
    from tvm.s_tir import meta_schedule as ms

    d = Path(database_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
        return ms.database.JSONDatabase(work_dir=str(d), module_equality="structural")
    except OSError as err:
        raise LutnasError(f"tuning database {d}: {err.strerror or err}") from None
    except Exception as err:  # noqa: BLE001 -- TVM raises its own errors for unreadable JSON
        first = (str(err).strip().splitlines() or [type(err).__name__])[-1][:200]
        raise LutnasError(f"tuning database {d} cannot be read: {first}") from None


def database_records(database_dir: str | Path) -> int:
    """Number of tuning records in the database (lines of its record file)."""
    path = Path(database_dir) / RECORD_FILE
    if not path.is_file():
        return 0
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def apply_database_pass(database_dir: str | Path, target: Any) -> Any:
    """A module pass applying the best record of each task found in the database."""
    import tvm
    from tvm import relax

    db = open_database(database_dir)

    @tvm.transform.module_pass(opt_level=0, name="LutnasApplyTuningDatabase")
    def _pass(mod: Any, _ctx: Any) -> Any:
        with target, db:
            return relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)

    return _pass


# -- tasks ------------------------------------------------------------------------------------------
def fused_module(model: Any, input_shape: tuple[int, ...], target: Any, layout: str = "NHWC") -> Any:
    """Import `model` (ONNX path/proto or a Relax IRModule), put it into `layout` as the `lutnas-cpu`
    pipeline does (`lowering.layout`), and legalize + fold + fuse it for `target`, which is where
    MetaSchedule's tasks appear."""
    import tvm
    from tvm import relax

    from lutnas.lowering.fold import fold_in_numpy
    from lutnas.lowering.layout import layout_passes

    if not isinstance(model, tvm.IRModule):
        from lutnas.lowering.onnx_io import load_onnx
        from lutnas.lowering.tvm_build import _import, frontend_unsupported_ops

        name = str(model) if isinstance(model, (str, Path)) else "<model>"
        proto = load_onnx(model) if isinstance(model, (str, Path)) else model
        missing = frontend_unsupported_ops(proto)
        if missing:
            from lutnas.errors import OnnxError

            raise OnnxError(f"{name}: operator(s) TVM's ONNX frontend cannot import: {', '.join(missing)}")
        model = _import(proto, tuple(input_shape), name)
    seq = tvm.transform.Sequential([
        *layout_passes(layout),
        fold_in_numpy(),   # as the pipeline does: the weights' transposes, without one LLVM build each
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ])
    with target:
        return seq(model)


def tuning_target(target: Any, threads: int) -> Any:
    """The target MetaSchedule measures with: the build target plus `num-cores` (its search space
    decides parallel extents from it)."""
    import tvm

    cfg = dict(target.export())
    cfg["num-cores"] = int(threads)
    return tvm.target.Target(cfg)


def build_candidate(mod: Any, target: Any, _params: Any) -> Any:
    """MetaSchedule's default builder minus `import tvm.s_tir.tensor_intrin`, which parses every
    tensor intrinsic's TVMScript (measured 30 s to 3 min here) in each fresh builder process
    although CPU float32 schedules never tensorize. Runs in the builder's worker processes."""
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm_build(mod, target=target)


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
    target: Any,
    database_dir: str | Path,
    *,
    trials: int,
    trials_per_task: int | None = None,
    workers: int = 2,
    threads: int = 1,
    progress: bool = True,
    seed: int = 0,
    rules: Any = None,
) -> TuningReport:
    """Tune the fused tasks of `model` into the database in `database_dir`.

    `target` is a lowering `TargetSpec` (or a tvm Target); `threads` is the thread count the
    runtime will use (tables are per thread count, and the best schedule depends on it).
    `trials` is the overall budget of new measurements; `trials_per_task` (default: an even share,
    at least 8) caps each task. KeyboardInterrupt stops after the current batch; the records
    measured so far stay in the database.
    """
    from lutnas.lowering.rules import default_cpu_rules

    if trials < 0 or (trials_per_task is not None and trials_per_task < 1):
        raise LutnasError(f"tuning budget must be >= 0 trials (per task >= 1), got {trials}/{trials_per_task}")
    started = time.time()
    tvm_target = target.tvm_target() if hasattr(target, "tvm_target") else target
    mod = fused_module(model, input_shape, tvm_target)
    session = _Session(database_dir, tvm_target, threads, workers, seed, rules or default_cpu_rules())
    tasks = session.extract(mod)
    per_task = trials_per_task or max(8, trials // max(1, len(tasks)))
    notes: list[str] = []
    reports: dict[str, TaskReport] = {}
    interrupted = False
    with _progress(progress, len(tasks), trials) as bar:
        try:
            session.ensure_incumbents(tasks)  # incumbents first: cheap, and they order the search
            bar.step_incumbent(len(tasks))
            budget = trials
            for task in sorted(tasks, key=lambda t: -(t.rules_s or 0.0) * t.weight):
                before = session.searched(task)
                todo = min(per_task - before, budget) if budget > 0 else 0
                ran = session.search(task, todo, bar) if todo > 0 else 0
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
        database_dir=str(database_dir), target=dict(tvm_target.export()), threads=threads,
        trials_budget=trials, trials_per_task=per_task, tasks=tuple(reports[t.name] for t in tasks),
        seconds=time.time() - started, database_hash=database_hash(database_dir),
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

    def __init__(self, database_dir: Any, target: Any, threads: int, workers: int, seed: int, rules: Any) -> None:
        self.dir = Path(database_dir)
        self.db = open_database(self.dir)
        self.target = tuning_target(target, threads)
        self.build_target = target
        self.threads = threads
        self.seed = seed
        self.rules = rules
        self.workers = workers
        self._builder: Any = None
        self._runner: Any = None

    @property
    def builder(self) -> Any:
        """MetaSchedule's LocalBuilder (`workers` processes), created on first use."""
        from tvm.s_tir import meta_schedule as ms

        if self._builder is None:
            self._builder = ms.builder.LocalBuilder(max_workers=max(1, self.workers), timeout_sec=120.0,
                                                    f_build=build_candidate)
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
        futures = self.runner.run([RunnerInput(b.artifact_path, "cpu", ArgInfo.from_prim_func(mods[i]["main"]))
                                   for i, b in ok])
        out: list[list[float] | None] = [None] * len(mods)
        for (i, _b), fut in zip(ok, futures, strict=True):
            res = fut.result()
            if not res.error_msg and res.run_secs:
                out[i] = [float(x) for x in res.run_secs]
        return out

    # the search --------------------------------------------------------------------------------
    def search(self, task: _Task, trials: int, bar: Any) -> int:
        """Run up to `trials` MetaSchedule trials on `task`; returns the number measured."""
        from tvm.s_tir import meta_schedule as ms

        before = self.searched(task)
        with _without_tensor_intrinsics(self.target):
            ctx = ms.TuneContext(
                mod=task.mod, target=self.target, space_generator="post-order-apply",
                search_strategy=_strategy(trials), task_name=task.name, num_threads=max(1, self.threads),
                rand_state=self.seed,
            )
        bar.start_task(task.name, trials)
        with _quiet_logs():
            ms.tune.tune_tasks(
                tasks=[ctx], task_weights=[1.0], work_dir=str(self.dir / "logs"),
                max_trials_global=trials, max_trials_per_task=trials,
                num_trials_per_iter=min(64, max(2, trials)),
                builder=self.builder, runner=self.runner, database=self.db,
                cost_model="xgb", measure_callbacks="default", task_scheduler="round-robin",
            )
        ran = self.searched(task) - before
        bar.advance(ran)
        return ran


_INTRIN_MODULE = "tvm.s_tir.tensor_intrin"
_DOT_FEATURES = ("avx512vnni", "avxvnni", "dotprod", "i8mm", "sme")


class _without_tensor_intrinsics:
    """`TuneContext()` imports `tvm.s_tir.tensor_intrin`, which parses ~250 TVMScript intrinsics
    with `inspect.stack()` each (measured 3 to 4.5 minutes on this 2-core machine). MetaSchedule's
    CPU rules only tensorize on targets with dot-product instructions, so for any other target the
    import is replaced by an empty module for the duration of the call (and removed again)."""

    def __init__(self, target: Any) -> None:
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


def _has_dot_product(target: Any) -> bool:
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


def _record(sch: Any, task: _Task, secs: list[float], target: Any) -> Any:
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


class _progress:
    """A rich progress bar over incumbents and trials (a no-op when `enabled` is False)."""

    def __init__(self, enabled: bool, tasks: int, trials: int) -> None:
        self.enabled = enabled
        self.tasks = tasks
        self.trials = trials

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), transient=False)
            self.bar.__enter__()
            self.inc = self.bar.add_task("rules schedules measured", total=self.tasks)
            self.tr = self.bar.add_task("tuning trials", total=max(self.trials, 1))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)

    def step_incumbent(self, n: int) -> None:
        if self.enabled:
            self.bar.update(self.inc, advance=n)

    def start_task(self, name: str, trials: int) -> None:
        if self.enabled:
            self.bar.update(self.tr, description=f"tuning {name[:40]} ({trials} trials)")

    def advance(self, n: int) -> None:
        if self.enabled:
            self.bar.update(self.tr, advance=n)
