"""Per-operator latency tables for any ONNX model: fused kernels from TVM's own lowering, timed once each.

`profile_models(paths, target, db)` fills a kernel table (`kernel_store`) from ONNX models:
1. every file is read and checked first (unreadable, unsupported, dynamic-shaped: one line, nothing
   measured), then compiled in worker processes with its kernel library and kernel list
   (`profiler.workers.compile_many(kernels=True)`; never time while compiling);
2. each kernel not yet in the table is recorded once by its structural signature (a kernel shared by
   two models, or met again in a later run, is the same entry) and timed alone with the runner's
   `measure_kernel` in the table's cache mode: pass 1 over the kernels without passes, later rounds
   over those whose stability verdict asks for more, each pass committed at once (resumable);
3. the VM-overhead probes (`lowering.kernels.probe_onnx`) are timed whole and kernel by kernel, so
   the fixed cost per model run is measured on this device (`kernel_model.FixedCost`); each profiled
   model is timed whole once as well (whole minus its kernels is another fixed-cost point, used
   with `fixed_source="models"`, and the ground truth bench/kernel_table_accuracy.py compares with).

While it times, an anchor model is sampled every second or so (`kernel_anchors`): reading the table,
every pass is brought to the device's typical speed over the profile.

`KernelTable(db).predict(kernels)` is then the sum over the model's kernels of calls x the table's
estimate per call (the pooled median of stable passes), with kernels the table lacks learned by the
per-kind `KernelRegressor` and listed, plus the fixed cost, all in the table's measured context (its
profiled models whole against their kernels: a factor on kernel time and a cost per VM call,
`KernelTable.context`): every part is reported separately.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lutnas.errors import LutnasError, OnnxError
from lutnas.latency_tables.kernel_anchors import AnchorClock, SpeedCurve
from lutnas.latency_tables.kernel_model import (
    DEFAULT_REGRESSOR,
    FixedCost,
    KernelContext,
    KernelRegressor,
    fit_context,
    fit_fixed_cost,
)
from lutnas.latency_tables.kernel_store import KernelStore, KernelTableMeta, kernel_table_id
from lutnas.latency_tables.networks import time_whole
from lutnas.latency_tables.repeatability import Retest, retest
from lutnas.latency_tables.store import Store
from lutnas.lowering.kernels import KernelInfo, ModelKernels
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.profiler.kernel_timing import CACHE_MODES, KernelJob
from lutnas.profiler.measurement import (
    DEFAULT_MIN_REPEAT_MS,
    DEFAULT_WARMUP,
    MeasureJob,
    Measurement,
)
from lutnas.profiler.rounds import INTERLEAVED_CYCLES
from lutnas.profiler.stability import StabilityPolicy, verdict
from lutnas.progress import ProgressBar, iter_progress, status_spinner

PROBE_CALLS = (1, 16, 64)   # kernel calls of the VM-overhead probes
# Every kernel gets three passes of five samples, in three rounds over all kernels: a pass lasts
# about a second and this VM's speed moves in phases of seconds, so one pass per kernel let a big
# kernel carry one phase into the table (a ViT at 128 px under-predicted by 10% where its kernels,
# re-timed in one process, summed to -1%); rounds minutes apart pool three windows. A kernel whose
# passes still disagree (121-187 of 641 in the 2026-12-04 tables) gets up to three more rounds:
# its estimate pools the passes, so one phase weighs less (a round of them costs ~35 s).
KERNEL_REPEATS = 5
KERNEL_POLICY = StabilityPolicy(min_passes=3, max_passes=6)
FIXED_SOURCES = ("probes", "models")
DEFAULT_FIXED_SOURCE = "probes"


@dataclass(frozen=True)
class KernelSettings:
    """How kernels are timed; all of it is part of the kernel table's identity. `cache_mode` None:
    the runner's default (in-model on this machine, hot on a board)."""

    cache_mode: str | None = None
    repeats: int = KERNEL_REPEATS
    min_repeat_ms: float = DEFAULT_MIN_REPEAT_MS
    warmup: int = DEFAULT_WARMUP

    def __post_init__(self) -> None:
        if self.cache_mode is not None and self.cache_mode not in CACHE_MODES:
            raise LutnasError(f"unknown cache mode {self.cache_mode!r}; valid: {', '.join(CACHE_MODES)}")

    def for_runner(self, runner: Any) -> KernelSettings:
        """These settings with the cache mode resolved for `runner`; one it cannot time in is refused."""
        modes = tuple(runner.kernel_cache_modes())
        if self.cache_mode is None:
            return replace(self, cache_mode=modes[0])
        if self.cache_mode not in modes:
            raise LutnasError(f"{runner.where} cannot time kernels in cache mode {self.cache_mode!r}; "
                              f"it can: {', '.join(modes)}")
        return self

    def options(self, policy: StabilityPolicy) -> dict[str, Any]:
        return {**asdict(self), "policy": asdict(policy), "probe_calls": list(PROBE_CALLS)}


@dataclass(frozen=True)
class OnnxModel:
    """A checked ONNX file with a fixed input shape: the unit the kernel stage profiles."""

    path: Path
    name: str
    key: str                     # sha256 of the file (16 hex) and the input shape
    input_shape: tuple[int, ...]
    dtype: str


def read_models(paths: list[str | Path]) -> list[OnnxModel]:
    """Load and check every file before any work: `OnnxError` naming the file and the cause."""
    from lutnas.lowering.frontend import frontend_unsupported_ops
    from lutnas.lowering.kernels import static_input_shape
    from lutnas.lowering.onnx_io import load_onnx

    if not paths:
        raise LutnasError("no ONNX model given")
    out = []
    for path in map(Path, paths):
        proto = load_onnx(path)
        missing = frontend_unsupported_ops(proto)
        if missing:
            raise OnnxError(f"{path}: operator(s) TVM's ONNX frontend cannot import: {', '.join(missing)}")
        shape = static_input_shape(proto, str(path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        out.append(OnnxModel(path, path.stem, f"{digest}-{'x'.join(map(str, shape))}", shape, _input_dtype(proto)))
    return out


def _input_dtype(proto: Any) -> str:
    from onnx import helper

    inits = {t.name for t in proto.graph.initializer}
    first = next(i for i in proto.graph.input if i.name not in inits)
    return str(np.dtype(helper.tensor_dtype_to_np_dtype(first.type.tensor_type.elem_type)))


def compile_models(models: list[OnnxModel], target: Any, pipeline: str, workers: int = 2,
                   progress: bool = False) -> list[tuple[Path, ModelKernels]]:
    """(model library, its kernels) per model, compiled in worker processes (cached)."""
    from lutnas.lowering.kernels import read_kernel_list
    from lutnas.profiler.workers import CompileJob, compile_many

    with status_spinner(f"compiling {len(models)} model(s) with {workers} worker(s)", progress):
        built = compile_many([CompileJob(m.path, m.input_shape) for m in models], target, workers=workers,
                             pipeline=pipeline, kernels=True)
    return [(c.library_path, read_kernel_list(c.library_path)) for c in built]


def probe_models(work_dir: Path) -> list[OnnxModel]:
    from lutnas.lowering.kernels import probe_onnx

    paths = [probe_onnx(n, Path(work_dir) / "probes" / f"probe{n}.onnx") for n in PROBE_CALLS]
    return [OnnxModel(p.path, f"probe{n}", f"probe-{p.key}", p.input_shape, p.dtype)
            for n, p in zip(PROBE_CALLS, read_models(paths))]


def zoo_models(work_dir: Path, count: int) -> list[OnnxModel]:
    """`count` sampled zoo networks (`kernel_zoo`): their kernels teach the regressor (role "zoo")."""
    from lutnas.latency_tables.kernel_zoo import zoo_paths

    if count == 0:
        return []
    return [replace(m, key=f"zoo-{m.key}") for m in read_models(zoo_paths(count, Path(work_dir) / "zoo"))]


def model_role(model: OnnxModel) -> str:
    """probe, zoo or model, from the key `probe_models` / `zoo_models` give."""
    return next((role for role in ("probe", "zoo") if model.key.startswith(f"{role}-")), "model")


@dataclass(frozen=True)
class KernelProfileResult:
    table_id: str
    db_path: Path
    models: int
    kernels: int             # kernels in the table
    new_kernels: int         # kernels the given models added
    measured: int            # kernels that got a pass in this run
    passes: int
    unstable: int            # kernels still unstable after this run
    fixed: FixedCost | None
    compile_s: float
    measure_s: float
    retest: Retest | None = None   # the kernels' passes against each other
    zoo: int = 0                   # zoo networks (`kernel_zoo`) profiled with the models
    speed: SpeedCurve | None = None  # the anchor's samples over the table's profiles (`kernel_anchors`)
    context: KernelContext = field(default_factory=KernelContext)   # the profiled models' context (`KernelTable.context`)

    def lines(self) -> list[str]:
        fixed = (f"fixed cost {self.fixed.invoke_ms * 1e3:.1f} us + {self.fixed.per_call_ms * 1e3:.3f} us per VM "
                 f"call (fitted on {self.fixed.points} probes)" if self.fixed else "fixed cost: not measured")
        zoo = f" + {self.zoo} zoo network(s)" if self.zoo else ""
        out = [f"kernel table {self.table_id} in {self.db_path}",
               (f"{self.models} model(s){zoo}: {self.kernels} kernel(s) in the table ({self.new_kernels} new), measured "
                f"{self.measured} ({self.passes} pass(es)), unstable {self.unstable}; {fixed}; "
                f"compile {self.compile_s:.1f} s, measure {self.measure_s:.1f} s")]
        if self.speed is not None:
            out.append(f"device speed while profiling: {len(self.speed.times)} anchor sample(s), moved x"
                       f"{self.speed.spread:.3f} (every pass brought to its typical speed); profiled models run "
                       f"their kernels x{self.context.factor:.3f} + {self.context.per_call_ms * 1e3:.3f} us per VM call "
                       "beyond the fixed cost (applied to every prediction)")
        if self.retest is not None:
            out.append(f"repeatability: kernels, pass against pass: {self.retest.line()}")
        if self.kernels and self.unstable > self.kernels // 4:
            out.append(f"{self.unstable} of {self.kernels} kernels stayed unstable (their passes disagree by more than "
                       f"10%; each is estimated from its calmer passes): check the machine (`lutnas doctor`) and add "
                       "passes at a quieter time (`--remeasure`)")
        return out


def profile_models(paths: list[str | Path], target: Any, db_path: str | Path, *, runner: Any = None,
                   threads: int = 1, pipeline: str = DEFAULT_PIPELINE, settings: KernelSettings | None = None,
                   policy: StabilityPolicy = KERNEL_POLICY, progress: bool = True, workers: int = 2,
                   remeasure: bool = False, work_dir: str | Path | None = None, zoo: int = 0,
                   before_timing: Callable[[], None] | None = None) -> KernelProfileResult:
    """Fill (or finish) the kernel table of (target, threads, pipeline, device, settings) from models,
    and from `zoo` sampled networks (`kernel_zoo`) whose kernels only teach the regressor.

    `before_timing` runs once, after compiling and before the first timing (a load warning)."""
    from lutnas.latency_tables.profile import work_dir_for
    from lutnas.lowering.targets import get_target
    from lutnas.profiler.runners import LocalRunner

    target = get_target(target) if isinstance(target, str) else target
    models = read_models(paths)
    db_path = Path(db_path)
    work = Path(work_dir) if work_dir else work_dir_for(db_path)
    probes = probe_models(work)
    models += zoo_models(work, zoo)
    t0 = time.perf_counter()
    compiled = compile_models(models + probes, target, pipeline, workers, progress)
    t1 = time.perf_counter()
    if before_timing is not None:
        before_timing()
    runner = runner or LocalRunner(target, "tvm", threads, policy)
    settings = (settings or KernelSettings()).for_runner(runner)
    store = Store(db_path, create=True)
    try:
        ks = KernelStore(store)
        meta = _table_meta(target, threads, pipeline, runner.describe(), settings.options(policy))
        ks.ensure_table(meta)
        session = _Session(ks, meta.id, runner, settings, policy, target.name, threads, progress, remeasure)
        before = {row.info.signature for row in ks.kernels(meta.id)}
        jobs = session.record_models(models + probes, compiled)
        session.start_anchors(models, compiled)
        probe_passes = session.measure_whole(probes, compiled[len(models):])
        wholes = [n for n, m in enumerate(models) if model_role(m) == "model"]
        own = {k.signature for n in wholes for k in compiled[n][1].kernels}
        # the models' kernels, then the models whole (anchors), then the zoo: one window for a table's own
        measured, passes = session.measure_kernels({k: j for k, j in jobs.items() if k in own})
        probe_passes += session.measure_whole([models[n] for n in wholes], [compiled[n] for n in wholes])
        zoo_measured, zoo_passes = session.measure_kernels({k: j for k, j in jobs.items() if k not in own})
        measured, passes = measured + zoo_measured, passes + zoo_passes
        session.tick(force=True)
        table = KernelTable(ks, meta.id)
        return KernelProfileResult(meta.id, db_path, len(wholes), len(table.infos), len(set(jobs) - before),
                                   measured, passes + probe_passes, table.unstable_count(),
                                   table.fixed_cost_or_none(), t1 - t0, time.perf_counter() - t1, table.retest(),
                                   len(models) - len(wholes), table.speed, table.context())
    finally:
        store.close()


def _table_meta(target: Any, threads: int, pipeline: str, fp: dict[str, Any],
                options: dict[str, Any]) -> KernelTableMeta:
    tid = kernel_table_id(target.canonical_json(), "tvm", threads, pipeline, fp["fingerprint_id"], options)
    return KernelTableMeta(tid, target.name, target.canonical_json(), target.target_hash(), "tvm", int(threads),
                           pipeline, fp, fp["fingerprint_id"], options, time.time())


@dataclass
class _Session:
    """One profiling run's state: the store, the runner and what it measures."""

    ks: KernelStore
    table_id: str
    runner: Any
    settings: KernelSettings
    policy: StabilityPolicy
    target_name: str
    threads: int
    progress: bool
    remeasure: bool
    ids: dict[str, int] = field(default_factory=dict)           # signature -> kernel id
    infos: dict[str, KernelInfo] = field(default_factory=dict)  # signature -> its description
    anchors: AnchorClock | None = None                          # the table's speed track (kernel_anchors)

    @property
    def runner_name(self) -> str:
        return str(getattr(self.runner, "name", type(self.runner).__name__))

    def record_models(self, models: list[OnnxModel], compiled: list[tuple[Path, ModelKernels]]) -> dict[str, KernelJob]:
        """Record models and their kernels; one job per kernel signature of the non-probe models."""

        jobs: dict[str, KernelJob] = {}
        for model, (library, kernels) in zip(models, compiled):
            role = model_role(model)
            self.ks.ensure_model(self.table_id, model.key, model.name, role, kernels)
            if role != "probe":
                for info in kernels.kernels:
                    jobs.setdefault(info.signature, self.job(info, library, model))
        self.ids = self.ks.ensure_kernels(self.table_id, [self.infos[k] for k in jobs])
        return jobs

    def start_anchors(self, models: list[OnnxModel], compiled: list[tuple[Path, ModelKernels]]) -> None:
        """Pick the anchor -- the profiled model with the most VM calls (the zoo's first without one) --
        and time its first sample."""
        from lutnas.profiler.rounds import one_sample

        rows = {row.key: row for row in self.ks.models(self.table_id)}
        pairs = [(m, c) for m, c in zip(models, compiled) if model_role(m) == "model"]
        pairs = pairs or [(m, c) for m, c in zip(models, compiled) if model_role(m) == "zoo"][:1]
        if not pairs:
            return
        model, (library, _) = max(pairs, key=lambda pair: pair[1][1].vm_calls)
        row_id = rows[model.key].id

        def store(m: Measurement) -> None:
            self.ks.add_model_pass(row_id, "anchor", m, self.runner_name)

        sample = one_sample(self.runner)

        def held_sample(job: MeasureJob) -> Measurement:
            with self.runner.holding():
                return sample(job)

        self.anchors = AnchorClock(self.model_job(model, library), held_sample, store)
        self.tick(force=True)

    def tick(self, force: bool = False) -> None:
        if self.anchors is not None:
            self.anchors.tick(force)

    def job(self, info: KernelInfo, library: Path, model: OnnxModel) -> KernelJob:
        """Timing `info`, a kernel of `model` compiled into `library` (its kernel library beside it)."""
        from lutnas.lowering.kernels import kernel_library_path

        self.infos.setdefault(info.signature, info)
        s = self.settings
        return KernelJob(info.signature, kernel_library_path(library), info.name, [p.shape for p in info.params],
                         [p.dtype for p in info.params], cache_mode=str(s.cache_mode),  # resolved: for_runner
                         target=self.target_name, threads=self.threads, repeats=s.repeats,
                         min_repeat_ms=s.min_repeat_ms, warmup=s.warmup, model=self.model_job(model, library))

    def model_job(self, model: OnnxModel, library: Path) -> MeasureJob:
        s = self.settings
        return MeasureJob(model.key, model.input_shape, library_path=library, target=self.target_name,
                          threads=self.threads, repeats=s.repeats, min_repeat_ms=s.min_repeat_ms, warmup=s.warmup,
                          dtype=model.dtype)

    def measure_kernels(self, jobs: dict[str, KernelJob]) -> tuple[int, int]:
        """Rounds of passes until every kernel's verdict is settled; (kernels measured, passes added)."""
        stored = self.ks.kernel_passes(self.table_id)
        passes = {k: list(stored.get(self.ids[k], [])) for k in jobs}
        todo = [k for k in jobs if self.remeasure or not passes[k] or verdict(passes[k], self.policy).needs_more]
        measured, added = set(), 0
        with ProgressBar("timing kernels", len(todo), enabled=self.progress and bool(todo), transient=True) as bar:
            round_no = 1
            while todo:
                bar.describe(f"timing kernels (round {round_no}, {len(todo)} kernel(s))")
                for key in todo:
                    m = self.runner.measure_kernel(jobs[key])
                    self.ks.add_kernel_pass(self.ids[key], m, self.runner_name)
                    passes[key].append(m)
                    measured.add(key)
                    added += 1
                    self.tick()
                    if not verdict(passes[key], self.policy).needs_more:
                        bar.advance()
                todo = [k for k in todo if verdict(passes[k], self.policy).needs_more]
                round_no += 1
        return len(measured), added

    def measure_whole(self, models: list[OnnxModel], compiled: list[tuple[Path, ModelKernels]]) -> int:
        """Each model or probe not measured whole yet; returns the number of passes added. Probes:
        their VM `main` timed by the harness, then their kernels as the table times kernels. Profiled
        models: interleaved, INTERLEAVED_CYCLES cycles of one sample each (`networks.time_whole`), one
        pass each, because a model's whole time is the table's context and a validation's "then", and
        passes timed one after another caught this VM's phases (profiled models' whole / predicted
        spread ±5-8% in one profile, where interleaved timing repeats within 1-2%)."""
        rows = {m.key: m for m in self.ks.models(self.table_id)}
        done = {mid for mid, what in self.ks.model_passes(self.table_id) if what == "model"}
        todo = [(m, c) for m, c in zip(models, compiled) if self.remeasure or rows[m.key].id not in done]
        probes = [(m, c) for m, c in todo if rows[m.key].role == "probe"]
        wholes = [(m, c) for m, c in todo if rows[m.key].role != "probe"]
        for model, (library, kernels) in iter_progress(probes, len(probes), "timing VM-overhead probes", self.progress):
            row = rows[model.key]
            whole = self.runner.measure(self.model_job(model, library))
            alone = [self.runner.measure_kernel(self.job(k, library, model)) for k in kernels.kernels]
            self.ks.add_model_pass(row.id, "kernels", _summed(alone, kernels.calls), self.runner_name)
            self.ks.add_model_pass(row.id, "model", whole, self.runner_name)
            self.tick()
        if wholes:
            jobs = [self.model_job(model, library) for model, (library, _) in wholes]
            timed = time_whole(self.runner, jobs, self.policy, min_rounds=INTERLEAVED_CYCLES,
                               at_boundary=lambda _: self.tick(), progress=self.progress,
                               label="timing the profiled models whole")
            for (model, _), passes in zip(wholes, timed):
                for m in passes:
                    self.ks.add_model_pass(rows[model.key].id, "model", m, self.runner_name)
        return 2 * len(probes) + len(wholes)


def _summed(parts: list[Measurement], calls: tuple[int, ...]) -> Measurement:
    """One run's kernels as one measurement: sample i = sum over kernels of calls x their sample i."""
    n = min(p.n for p in parts)
    samples = [sum(c * p.samples_ms[i] for p, c in zip(parts, calls)) for i in range(n)]
    first = parts[0]
    return Measurement(tuple(samples), first.inner_loops, first.warmup, first.threads, first.started_at,
                       parts[-1].ended_at, 1, "tvm", key=f"kernels of {first.key}",
                       unstable=any(p.unstable for p in parts), meta={"calls": list(calls)})


# -- reading a kernel table and predicting ---------------------------------------------------------
@dataclass(frozen=True)
class KernelTerm:
    """One kernel of a predicted model: calls x ms per call, and where the number comes from."""

    signature: str
    summary: str
    kind: str
    calls: int
    ms_per_call: float
    source: str              # "measured" | "learned"

    @property
    def total_ms(self) -> float:
        return self.calls * self.ms_per_call


@dataclass(frozen=True)
class KernelPrediction:
    model: str
    table: str
    terms: tuple[KernelTerm, ...]
    fixed_ms: float
    vm_calls: int
    context: KernelContext = field(default_factory=KernelContext)   # already in every term's ms_per_call and in fixed_ms

    @property
    def measured_ms(self) -> float:
        return sum(t.total_ms for t in self.terms if t.source == "measured")

    @property
    def learned_ms(self) -> float:
        return sum(t.total_ms for t in self.terms if t.source == "learned")

    @property
    def latency_ms(self) -> float:
        return self.measured_ms + self.learned_ms + self.fixed_ms

    @property
    def missing(self) -> list[KernelTerm]:
        return [t for t in self.terms if t.source == "learned"]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "latency_ms": self.latency_ms, "measured_ms": self.measured_ms,
                "learned_ms": self.learned_ms, "fixed_ms": self.fixed_ms, "context": self.context.to_dict(), "table": self.table,
                "kernels": len(self.terms), "kernel_calls": sum(t.calls for t in self.terms),
                "vm_calls": self.vm_calls,
                "missing": [{"signature": t.signature, "kernel": t.summary, "kind": t.kind, "calls": t.calls,
                             "learned_ms_per_call": t.ms_per_call} for t in self.missing]}

    def lines(self) -> list[str]:
        head = (f"{self.model}: {self.latency_ms:.4f} ms = measured kernels {self.measured_ms:.4f} + learned "
                f"kernels {self.learned_ms:.4f} + fixed {self.fixed_ms:.4f} ({len(self.terms)} kernels in the "
                f"table's context: x{self.context.factor:.3f}, {self.context.per_call_ms * 1e3:.3f} us per VM call; "
                f"{len(self.missing)} not in table {self.table})")
        return [head] + [f"  missing {t.signature} x{t.calls}: {t.summary} (learned {t.ms_per_call * 1e3:.2f} us)"
                         for t in self.missing]


class KernelTable:
    """A kernel table read back: per-kernel estimates, the learned fallback and the fixed cost."""

    def __init__(self, ks: KernelStore, table_id: str, regressor: str = DEFAULT_REGRESSOR,
                 fixed_source: str = DEFAULT_FIXED_SOURCE, context: bool = True) -> None:
        if fixed_source not in FIXED_SOURCES:
            raise LutnasError(f"unknown fixed-cost source {fixed_source!r}; valid: {', '.join(FIXED_SOURCES)}")
        self.ks, self.meta, self.regressor_name = ks, ks.meta(table_id), regressor
        self.fixed_source, self.use_context = fixed_source, context
        self.model_names: set[str] | None = None     # restricted(): the profiled models it may use
        self.policy = StabilityPolicy(**self.meta.options.get("policy", {}))
        rows, by_id = ks.kernels(table_id), ks.kernel_passes(table_id)
        model_passes = ks.model_passes(table_id)
        self.speed = SpeedCurve.from_passes([m for (_, what), ms in model_passes.items() if what == "anchor"
                                             for m in ms])
        self.infos = {row.info.signature: row.info for row in rows}
        self.passes = {row.info.signature: self._on_time_base(by_id.get(row.id, [])) for row in rows}
        self.model_passes = {key: self._on_time_base(ms) for key, ms in model_passes.items()}
        self._regressor: KernelRegressor | None = None

    def _on_time_base(self, passes: list[Measurement]) -> list[Measurement]:
        """Passes divided by the device's speed when they ran (`kernel_anchors`), as measured without anchors."""
        return passes if self.speed is None else [self.speed.corrected(m) for m in passes]

    @property
    def id(self) -> str:
        return self.meta.id

    def restricted(self, model_names: Iterable[str], zoo: bool = True) -> KernelTable:
        """This table as if only the named profiled models (and its zoo, unless `zoo` is False) had
        filled it: their kernels are measured, every other kernel is learned from them. The probes
        (fixed cost) are kept. For asking how well a table of a few models predicts models it never
        saw (bench/kernel_table_accuracy.py)."""
        names = set(model_names)
        rows = [row for row in self.ks.models(self.id, role="model") if row.name in names]
        if not rows:
            raise LutnasError(f"kernel table {self.id}: no profiled model named {', '.join(sorted(names))}")
        rows += self.ks.models(self.id, role="zoo") if zoo else []
        keep = {k.signature for row in rows for k in row.kernels.kernels}
        view = copy.copy(self)
        view.passes = {k: p for k, p in self.passes.items() if k in keep}
        view.infos = {k: i for k, i in self.infos.items() if k in keep}
        view._regressor = None
        view.model_names = names
        return view

    def estimates(self) -> dict[str, float]:
        """ms per call of every measured kernel: pooled median of its passes that were stable alone."""
        return {k: verdict(p, self.policy).median_ms for k, p in self.passes.items() if p}

    def retest(self) -> Retest:
        """Every kernel's pass medians against each other (`repeatability.retest`)."""
        return retest([[p.median_ms for p in passes] for passes in self.passes.values()])

    def unstable_count(self) -> int:
        return sum(1 for p in self.passes.values() if p and not verdict(p, self.policy).stable)

    def regressor(self) -> KernelRegressor:
        if self._regressor is None:
            est = self.estimates()
            self._regressor = KernelRegressor.fit([self.infos[k] for k in est], list(est.values()),
                                                  self.regressor_name, self.vector_bits())
        return self._regressor

    def vector_bits(self) -> int:
        """The table's target's vector width, which the learned kernels count work in."""
        from lutnas.lowering.cpu_features import target_vector_bits

        return target_vector_bits(json.loads(self.meta.target_json))

    def fixed_cost(self) -> FixedCost:
        """The VM's cost outside kernels, fitted on (VM calls, whole - kernels) points: the probes
        (their kernels timed alone beside them) and, with `fixed_source` "models", also every profiled
        model measured whole whose kernels the table all holds (then cache effects between kernels,
        not only the VM, fall into the per-call term)."""
        passes, est = self.model_passes, self.estimates()
        calls, overhead, wholes = [], [], []
        for row in self.ks.models(self.id):
            whole = passes.get((row.id, "model"))
            kernels = self._kernels_ms(row, passes, est)
            if whole and kernels is not None:
                calls.append(row.kernels.vm_calls)
                wholes.append(verdict(whole, self.policy).median_ms)
                overhead.append(wholes[-1] - kernels)
        return fit_fixed_cost(calls, overhead, wholes if self.fixed_source == "models" else None)

    def _kernels_ms(self, row: Any, passes: dict, est: dict[str, float]) -> float | None:
        """Kernel time of one run of a probe or usable model (None: not a point of the fit)."""
        if row.role == "probe":
            alone = passes.get((row.id, "kernels"))
            return verdict(alone, self.policy).median_ms if alone else None
        usable = self.fixed_source == "models" and (self.model_names is None or row.name in self.model_names)
        return self._kernels_of(row, est) if usable else None

    def profiled_wholes(self) -> dict[str, float]:
        """Model key -> that profiled model's whole-run median when the table was filled: what a
        validation re-times to read the machine's drift since (`kernel_validate.KernelDrift`)."""
        passes = self.model_passes
        return {row.key: verdict(passes[(row.id, "model")], self.policy).median_ms
                for row in self.ks.models(self.id, role="model")
                if passes.get((row.id, "model")) and (self.model_names is None or row.name in self.model_names)}

    def context(self) -> KernelContext:
        """What the table's profiled models (all kernels measured; a restricted view's own) cost whole
        beyond their kernels and the fixed cost, all on the table's time base (`fit_context`); the
        identity when no model qualifies or the table is read with `context=False`."""
        if not self.use_context:
            return KernelContext()
        est, fixed = self.estimates(), self.fixed_cost_or_none()
        kernels, rest, calls = [], [], []
        for row in self.ks.models(self.id, role="model"):
            whole = self.model_passes.get((row.id, "model"))
            kernels_ms = self._kernels_of(row, est)
            if whole and kernels_ms and (self.model_names is None or row.name in self.model_names):
                kernels.append(kernels_ms)
                calls.append(row.kernels.vm_calls)
                rest.append(verdict(whole, self.policy).median_ms - (fixed.cost_ms(calls[-1]) if fixed else 0.0))
        return fit_context(kernels, rest, calls)

    @staticmethod
    def _kernels_of(row: Any, est: dict[str, float]) -> float | None:
        """One run's kernel time of a profiled model, None unless the table measured all its kernels."""
        if any(k.signature not in est for k in row.kernels.kernels):
            return None
        return sum(c * est[k.signature] for k, c in zip(row.kernels.kernels, row.kernels.calls))

    def fixed_cost_or_none(self) -> FixedCost | None:
        try:
            return self.fixed_cost()
        except LutnasError:
            return None

    def predict(self, kernels: ModelKernels, model: str) -> KernelPrediction:
        """Sum of calls x per-call estimate (measured, else learned) plus the fixed cost; the table's
        `context` scales every per-call estimate and adds its cost per VM call to the fixed cost
        (reported with the prediction)."""
        est, context = self.estimates(), self.context()
        unknown = [k for k in kernels.kernels if k.signature not in est]
        learned = dict(zip((k.signature for k in unknown), self.regressor().predict(unknown))) if unknown else {}
        terms = tuple(KernelTerm(k.signature, k.summary(), k.kind, c,
                                 context.factor * est.get(k.signature, learned.get(k.signature, 0.0)),
                                 "measured" if k.signature in est else "learned")
                      for k, c in zip(kernels.kernels, kernels.calls))
        fixed_ms = self.fixed_cost().cost_ms(kernels.vm_calls) + context.per_call_ms * kernels.vm_calls
        return KernelPrediction(model, self.id, terms, fixed_ms, kernels.vm_calls, context)


def open_kernel_table(db_path: str | Path, table_id: str | None = None, regressor: str = DEFAULT_REGRESSOR,
                      fixed_source: str = DEFAULT_FIXED_SOURCE, context: bool = True) -> KernelTable:
    if fixed_source not in FIXED_SOURCES:
        raise LutnasError(f"unknown fixed-cost source {fixed_source!r}; valid: {', '.join(FIXED_SOURCES)}")
    store = Store(db_path, create=False)
    ks = KernelStore(store)
    try:
        return KernelTable(ks, ks.pick(table_id), regressor, fixed_source, context)
    except BaseException:
        store.close()
        raise


def model_kernels(table: KernelTable, model: OnnxModel) -> ModelKernels:
    """The model's kernels as the table's pipeline lowers them: recorded when profiled, else listed."""
    from lutnas.lowering.kernels import list_kernels
    from lutnas.lowering.targets import target_from_json

    for row in table.ks.models(table.id, role="model"):
        if row.key == model.key:
            return row.kernels
    target = target_from_json(table.meta.target_name, table.meta.target_json)
    return list_kernels(model.path, model.input_shape, target, table.meta.pipeline)


def predict_models(db_path: str | Path, paths: list[str | Path], table_id: str | None = None,
                   regressor: str = DEFAULT_REGRESSOR) -> list[KernelPrediction]:
    """`lutnas predict --onnx`: one prediction per model, from the db's kernel table."""
    models = read_models(paths)
    table = open_kernel_table(db_path, table_id, regressor)
    try:
        return [table.predict(model_kernels(table, m), m.name) for m in models]
    finally:
        table.ks.store.close()
