"""Compilation pipelines as values (TVM's `relax.pipeline` style), behind names.

A pipeline name is recorded with every artifact and table, because the schedules it produces decide
the latency that is measured: a table only describes the runtime that was built the same way.

`build_pipeline(name, target)` returns the `pipeline=` argument for `tvm.compile`; `None` means TVM's
own default pipeline for the target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
