"""Compilation pipelines as values (TVM's `relax.pipeline` style), behind names.

A pipeline name is recorded with every artifact and table, because the schedules it produces decide
the latency that is measured: a table only describes the runtime that was built the same way.

`build_pipeline(name, target)` returns the `pipeline=` argument for `tvm.compile`; `None` means TVM's
own default pipeline for the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lutnas.lowering.targets import TargetSpec, get_target, system_cpu, takes_host_mcpu, target_from_json
from lutnas.registry import Registry

PipelineFactory = Callable[[Any], Any]  # (tvm Target) -> tvm pass / pipeline, or None

PIPELINES: Registry[PipelineFactory] = Registry("pipeline")


def _tvm_default(target: Any) -> Any:
    """TVM 0.27's default build pipeline for the target (untuned; on CPU: no fusion, one thread)."""
    return None


PIPELINES.register("tvm-default", _tvm_default)


def cpu_pipeline(target: Any, database_dir: Any = None, rules: Any = None, layout: str = "NHWC") -> Any:
    """TVM's CPU pipeline with lutnas's schedule rules (and optionally a tuning database).

    The passes of `tvm.relax.backend.cpu_generic.get_default_pipeline` (library dispatch,
    legalize + fold + fuse, dataflow lowering, finalize), after the network is put into `layout`
    (`lowering.layout`: channels-last unless NCHW is asked for), with two steps inserted after fusion:
    `MetaScheduleApplyDatabase` (when `database_dir` holds a MetaSchedule JSON database: tuned
    records win) and then `lutnas.lowering.rules` for every function still unscheduled.
    """
    import tvm
    from tvm import relax
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic

    from lutnas.lowering.fold import fold_in_numpy
    from lutnas.lowering.layout import layout_passes
    from lutnas.lowering.rules import apply_rules_pass

    tuned = []
    if database_dir is not None:
        from lutnas.lowering.tuning import apply_database_pass

        tuned = [apply_database_pass(database_dir, target)]
    seq = tvm.transform.Sequential(
        layout_passes(layout)
        + cpu_generic.library_dispatch_passes(target)
        + [
            fold_in_numpy(),  # the weights' reshapes and layout transposes, before they become kernels
            relax.transform.LegalizeOps(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
        ]
        + tuned
        + [
            apply_rules_pass(target, rules),
            # weights the rules repacked (`rules.nhwc.pack_weights`): split off, packed at compile time
            relax.transform.SplitLayoutRewritePreproc(),
            fold_in_numpy(),  # (FoldConstant builds and runs one LLVM module per weight: `lowering.fold`)
            relax.transform.FoldConstant(),
        ]
        + cpu_generic.dataflow_lower_passes(target)
        + cpu_generic.finalize_passes(target),
        name="lutnas_cpu",
    )

    @tvm.transform.module_pass(opt_level=0, name="LutnasCPUPipeline")
    def _pipeline(mod: Any, _ctx: Any) -> Any:
        with target:  # TVM's own legalization and lowering passes read the current target
            return seq(mod)

    return _pipeline


def _lutnas_cpu(target: Any) -> Any:
    """Channels-last network, legalize, fold, fuse, then lutnas's CPU rules; no tuning."""
    return cpu_pipeline(target)


def _lutnas_cpu_nchw(target: Any) -> Any:
    """As `lutnas-cpu` but in ONNX's NCHW layout (lutnas's rules before the channels-last change)."""
    return cpu_pipeline(target, layout="NCHW")


PIPELINES.register("lutnas-cpu", _lutnas_cpu)
PIPELINES.register("lutnas-cpu-nchw", _lutnas_cpu_nchw)

TUNED_PREFIX = "lutnas-cpu+tuned:"


def tuned_pipeline_name(database_dir: Any) -> str:
    """The recorded name of a build that applies the database in `database_dir` (by content hash)."""
    from lutnas.lowering.tuning import database_hash

    return f"{TUNED_PREFIX}{database_hash(database_dir)}"

# The library functions' default (`build`, `lower`, `measure_archs`, ...): TVM's own pipeline, for any
# target. The commands choose theirs with `resolve_build` (lutnas-cpu on x86).
DEFAULT_PIPELINE = "tvm-default"

# Bumped when what a pipeline name builds changes, so libraries compiled by an older lutnas under the
# same name are not taken from the compile cache (`profiler.workers.cache_key`): 2 = channels-last.
_REVISIONS = {"lutnas-cpu": 2}


def pipeline_revision(name: str) -> int:
    """The revision of what `name` builds (a tuned name follows `lutnas-cpu`)."""
    base = "lutnas-cpu" if name.startswith(TUNED_PREFIX) else name
    return _REVISIONS.get(base, 1)


def build_pipeline(name: str, target: Any, database_dir: Any = None) -> Any:
    """The pass for `name`; a `lutnas-cpu+tuned:<hash>` name needs the database it names."""
    if name.startswith(TUNED_PREFIX):
        if database_dir is None:
            from lutnas.errors import UnknownNameError

            raise UnknownNameError(f"pipeline {name!r} needs its tuning database directory (--tuning-db)")
        return cpu_pipeline(target, database_dir=database_dir)
    return PIPELINES.get(name)(target)


@dataclass(frozen=True)
class RecordedBuild:
    """The build a latency table (or artifact) recorded: target short name, target JSON, pipeline."""

    target_name: str
    target_json: str
    pipeline: str


@dataclass(frozen=True)
class BuildChoice:
    """What a command builds with, and which parts were not given but filled in (and why)."""

    target: TargetSpec
    pipeline: str
    filled: tuple[str, ...] = ()  # phrases: "pipeline lutnas-cpu (x86's default)", ...

    def describe(self) -> str:
        """One line for the user: the resolved target and pipeline, and what was defaulted."""
        mcpu = self.target.target_json.get("mcpu")
        cpu = f" -mcpu={mcpu}" if mcpu else ""
        how = f" ({'; '.join(self.filled)})" if self.filled else ""
        return f"build: target {self.target.name}{cpu}, pipeline {self.pipeline}{how}"


def check_pipeline_name(name: str) -> str:
    """`name` if lutnas can build it, else `UnknownNameError` listing the pipelines."""
    if not name.startswith(TUNED_PREFIX):
        PIPELINES.get(name)
    return name


def resolve_build(target_name: str, *, pipeline: str | None = None, mcpu: str | None = None,
                  cuda_arch: str | None = None, runtime: str = "tvm",
                  recorded: RecordedBuild | None = None) -> BuildChoice:
    """The target and pipeline every command builds with, from what the user gave (None: not given).

    Why one function: the default must be the same for `lower`, `profile`, `measure` and `export`, or
    a table would describe another runtime than the artifact it predicts. Unless named, a target
    builds with its `default_pipeline` (x86: `lutnas-cpu`; others: TVM's own), and a pipeline other
    than `tvm-default` on a target that runs here gets this host's `-mcpu` (LLVM's name for it), which
    the rules size their vectors by. A table's `recorded` build, when nothing was named and it is for
    the same target, wins: an old `tvm-default` table keeps predicting what it measured. Runtimes other
    than `tvm` build nothing, so their tables keep TVM's default identity.
    """
    if recorded is not None and pipeline is None and mcpu is None and recorded.target_name == target_name:
        spec = target_from_json(recorded.target_name, recorded.target_json)
        return BuildChoice(spec, check_pipeline_name(recorded.pipeline), ("the table's recorded build",))
    options = {k: v for k, v in (("arch", cuda_arch), ("mcpu", mcpu)) if v is not None}
    spec = get_target(target_name, **options)
    if runtime != "tvm":
        return BuildChoice(spec, check_pipeline_name(pipeline or DEFAULT_PIPELINE))
    filled = []
    if pipeline is None:
        pipeline = spec.default_pipeline
        filled.append(f"{target_name}'s default pipeline")
    check_pipeline_name(pipeline)
    if mcpu is None and pipeline != DEFAULT_PIPELINE and takes_host_mcpu(spec):
        host = system_cpu()
        spec = get_target(target_name, **options, mcpu=host)
        filled.append(f"-mcpu of this host's CPU, {host}")
    return BuildChoice(spec, pipeline, tuple(filled))
