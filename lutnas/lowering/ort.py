"""onnxruntime sessions configured the same way everywhere (the reference runtime next to TVM).

CPU execution provider, a fixed number of intra-op threads, one inter-op thread, sequential
execution and all graph optimizations: the settings that make onnxruntime's latency comparable
with a single-stream TVM module and repeatable from run to run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.errors import OnnxError, error_line

if TYPE_CHECKING:
    import onnxruntime as ort


def ort_session(onnx_path: str | Path, threads: int = 1, profile_prefix: str | Path | None = None,
                optimized_path: str | Path | None = None) -> ort.InferenceSession:
    """A session on the CPU provider with these settings; with `profile_prefix`, onnxruntime's per-node
    profiler is on and writes its trace under that prefix (`end_profiling()` names the file); with
    `optimized_path`, the graph onnxruntime runs after its optimizations (fused and NCHWc nodes, named
    as the profiler names them) is saved there, for this machine only."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(profile_prefix)
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's pybind errors (Fail, InvalidGraph, NoSuchFile, ...)
        raise OnnxError(f"{onnx_path}: onnxruntime cannot load it: {error_line(err)}") from err


def profile_events(session: ort.InferenceSession) -> list[dict[str, Any]]:
    """End a profiling session (`ort_session(..., profile_prefix=...)`) and return its trace's events;
    the trace file is removed."""
    trace = Path(session.end_profiling())
    try:
        return json.loads(trace.read_text())
    finally:
        trace.unlink(missing_ok=True)
