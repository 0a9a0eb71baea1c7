"""onnxruntime sessions configured the same way everywhere (the reference runtime next to TVM).

CPU execution provider, a fixed number of intra-op threads, one inter-op thread, sequential
execution and all graph optimizations: the settings that make onnxruntime's latency comparable
with a single-stream TVM module and repeatable from run to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lutnas.errors import OnnxError, error_line


def ort_session(onnx_path: str | Path, threads: int = 1) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's pybind errors (Fail, InvalidGraph, NoSuchFile, ...)
        raise OnnxError(f"{onnx_path}: onnxruntime cannot load it: {error_line(err)}") from err
