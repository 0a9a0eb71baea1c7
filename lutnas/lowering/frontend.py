"""ONNX -> Relax IRModule: the one way into TVM, shared by `tvm_build.build` and tuning.

Loads the model (a path or a ModelProto), names any operator TVM's Relax ONNX frontend
(`tvm.relax.frontend.onnx.from_onnx`) has no converter for before trying, and imports the graph at a
static input shape. Building and tuning must see the same IRModule, else the tasks a tuning run
records are not the functions a build looks up (structural match), and records stop applying with
no error; so both start here and continue through `pipeline.fusion_passes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lutnas.errors import OnnxError, error_line
from lutnas.lowering.onnx_io import load_onnx, op_types

if TYPE_CHECKING:
    import onnx
    import tvm


@dataclass(frozen=True)
class ImportedModel:
    """A graph in TVM: the Relax module and the name of its one input."""

    mod: tvm.IRModule
    input_name: str


def frontend_unsupported_ops(proto: onnx.ModelProto) -> list[str]:
    """Operator types in `proto` that TVM's Relax ONNX frontend has no converter for."""
    from tvm.relax.frontend.onnx import onnx_frontend

    get_map = getattr(onnx_frontend, "_get_convert_map", None)
    supported = (set(get_map()) | {"Constant", "If"}) if get_map is not None else None
    missing = set()
    for op in op_types(proto):
        if "::" in op or (supported is not None and op not in supported):
            missing.add(op)  # non-default domains are never imported by the frontend
    return sorted(missing)


def graph_input(proto: onnx.ModelProto, name: str) -> str:
    """The name of the graph's one input (initializers are not inputs); `OnnxError` otherwise."""
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i.name for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise OnnxError(f"{name}: expected one graph input, found {len(inputs)}: {', '.join(inputs)}")
    return inputs[0]


def import_onnx(model: onnx.ModelProto | str | Path, input_shape: tuple[int, ...]) -> ImportedModel:
    """Load, check and import `model` at `input_shape`; `OnnxError` names what TVM cannot import."""
    import warnings

    from tvm.relax.frontend.onnx import from_onnx

    name = str(model) if isinstance(model, (str, Path)) else "<model>"
    proto = load_onnx(model) if isinstance(model, (str, Path)) else model
    missing = frontend_unsupported_ops(proto)
    if missing:
        raise OnnxError(f"{name}: operator(s) TVM's ONNX frontend cannot import: {', '.join(missing)}")
    input_name = graph_input(proto, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = from_onnx(proto, shape_dict={input_name: [int(d) for d in input_shape]})
    except Exception as err:  # the frontend raises many types; all mean "this graph did not import"
        raise OnnxError(f"{name}: TVM's ONNX frontend failed: {error_line(err)}") from err
    return ImportedModel(mod, input_name)
