"""Lowering: torch module or ONNX file -> Apache TVM (Relax) library for a named target.

Knows nothing of search spaces. Heavy libraries (torch, onnx, tvm, onnxruntime) are imported inside
functions, so importing this package stays cheap.
"""

from lutnas.lowering.lower import LoweredArtifact, lower
from lutnas.lowering.numerics import NumericsReport, check_numerics
from lutnas.lowering.onnx_io import export_onnx, load_onnx
from lutnas.lowering.ort import ort_session
from lutnas.lowering.pipeline import DEFAULT_PIPELINE, BuildChoice, build_pipeline, resolve_build
from lutnas.lowering.targets import TargetSpec, get_target, target_names
from lutnas.lowering.tvm_build import BuiltModule, build

__all__ = [
    "DEFAULT_PIPELINE",
    "BuildChoice",
    "BuiltModule",
    "LoweredArtifact",
    "NumericsReport",
    "TargetSpec",
    "build",
    "build_pipeline",
    "check_numerics",
    "export_onnx",
    "get_target",
    "load_onnx",
    "lower",
    "ort_session",
    "resolve_build",
    "target_names",
]
