"""Compilation pipelines as values (TVM's `relax.pipeline` style), behind names.

A pipeline name is recorded with every artifact and table, because the schedules it produces decide
the latency that is measured: a table only describes the runtime that was built the same way.

`build_pipeline(name, target)` returns the `pipeline=` argument for `tvm.compile`; `None` means TVM's
own default pipeline for the target.
"""

from __future__ import annotations

from typing import Any, Callable

from lutnas.registry import Registry

PipelineFactory = Callable[[Any], Any]  # (tvm Target) -> tvm pass / pipeline, or None

PIPELINES: Registry[PipelineFactory] = Registry("pipeline")


def _tvm_default(target: Any) -> Any:
    """TVM 0.27's default build pipeline for the target (untuned; on CPU: no fusion, one thread)."""
    return None


PIPELINES.register("tvm-default", _tvm_default)

DEFAULT_PIPELINE = "tvm-default"


def build_pipeline(name: str, target: Any) -> Any:
    return PIPELINES.get(name)(target)
