"""ONNX -> Apache TVM (Relax) compilation for one target, and library export.

Imports the ONNX graph with TVM's Relax ONNX frontend (`tvm.relax.frontend.onnx.from_onnx`) at a
static input shape, runs a named pipeline's Relax passes (`lowering.pipeline`; `lower_relax`), builds
the result with `relax.build` (`compile_lowered`; together what `tvm.compile` does), and exports a shared library linked by the target's compiler (cross-linked for aarch64). The
operator check runs before import, so an unsupported operator is named instead of surfacing as a
converter traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lutnas.errors import OnnxError, ToolchainError
from lutnas.lowering.onnx_io import INPUT_NAME, load_onnx, op_types
from lutnas.lowering.pipeline import DEFAULT_PIPELINE, build_pipeline
from lutnas.lowering.targets import TargetSpec


@dataclass(frozen=True)
class BuiltModule:
    executable: Any  # tvm.relax VMExecutable
    target: TargetSpec
    pipeline: str  # pipeline name, recorded with artifacts and tables
    input_shape: tuple[int, ...]
    input_name: str = INPUT_NAME

    def export_library(self, path: str | Path) -> Path:
        """Write the shared library, linked by the target's compiler; `ToolchainError` if it fails."""
        from tvm.support.cc import cross_compiler

        compiler = self.target.compiler()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fcompile = cross_compiler(compiler) if self.target.cross_compiler else None
        try:
            self.executable.export_library(str(path), fcompile=fcompile)
        except Exception as err:  # TVM wraps compiler failures in RuntimeError / TVMError
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise ToolchainError(f"linking {path.name} with {compiler} failed: {first}") from err
        return path

    def device(self) -> Any:
        import tvm

        return tvm.device(self.target.device_type, 0)

    def vm(self) -> Any:
        """A Relax VirtualMachine on the target's device (only where `runnable_here()`)."""
        from tvm import relax

        return relax.VirtualMachine(self.executable, self.device())

    def run(self, x: Any) -> Any:
        """Run once on a NumPy input; returns the (first) output as a NumPy array."""
        import numpy as np
        import tvm

        out = self.vm()["main"](tvm.runtime.tensor(np.ascontiguousarray(x, dtype=np.float32), self.device()))
        if not hasattr(out, "numpy"):  # a tuple of outputs
            out = out[0]
        return out.numpy()


def frontend_unsupported_ops(proto: Any) -> list[str]:
    """Operator types in `proto` that TVM's Relax ONNX frontend has no converter for."""
    from tvm.relax.frontend.onnx import onnx_frontend

    get_map = getattr(onnx_frontend, "_get_convert_map", None)
    supported = (set(get_map()) | {"Constant", "If"}) if get_map is not None else None
    missing = set()
    for op in op_types(proto):
        if "::" in op or (supported is not None and op not in supported):
            missing.add(op)  # non-default domains are never imported by the frontend
    return sorted(missing)


def build(
    model: Any,
    input_shape: tuple[int, ...],
    target: TargetSpec,
    pipeline: str = DEFAULT_PIPELINE,
    tuning_db: str | Path | None = None,
) -> BuiltModule:
    """Import `model` (ModelProto or path) at `input_shape` and compile it for `target`.

    `tuning_db`: the MetaSchedule database directory a `lutnas-cpu+tuned:<hash>` pipeline applies.
    """
    mod, input_name = import_model(model, input_shape)
    executable = compile_lowered(lower_relax(mod, target, pipeline, tuning_db), target)
    return BuiltModule(executable, target, pipeline, tuple(input_shape), input_name)


def import_model(model: Any, input_shape: tuple[int, ...]) -> tuple[Any, str]:
    """(Relax IRModule, graph input name) of an ONNX model (ModelProto or path) at `input_shape`.

    The operator check runs first, so an unsupported operator is named in one line.
    """
    name = "<model>"
    if isinstance(model, (str, Path)):
        name = str(model)
        model = load_onnx(model)
    missing = frontend_unsupported_ops(model)
    if missing:
        raise OnnxError(f"{name}: operator(s) TVM's ONNX frontend cannot import: {', '.join(missing)}")
    return _import(model, tuple(input_shape), name), _graph_input(model, name)


def lower_relax(mod: Any, target: TargetSpec, pipeline: str = DEFAULT_PIPELINE,
                tuning_db: str | Path | None = None) -> Any:
    """The IRModule after the pipeline's Relax passes: what `tvm.compile` runs before code generation.

    Kept apart from `compile_lowered` so the fused kernels (its PrimFuncs) can be read from exactly
    the module that is compiled (`lowering.kernels`). A pipeline name meaning TVM's default picks
    the pass `tvm.compile` would pick for the target.
    """
    tvm_target = target.tvm_target()
    passes = build_pipeline(pipeline, tvm_target, database_dir=tuning_db)
    if passes is None:
        passes = _tvm_default_passes(tvm_target)
    with tvm_target:
        return passes(mod)


def compile_lowered(lowered: Any, target: TargetSpec) -> Any:
    """Code generation and linking of a module `lower_relax` returned: the Relax VM executable."""
    from tvm import relax

    return relax.build(lowered, target=target.tvm_target(), relax_pipeline=None)


def _tvm_default_passes(tvm_target: Any) -> Any:
    """The pass `relax.build(relax_pipeline="default")` applies: the target's own on GPUs, else generic."""
    from tvm import relax

    if "gpu" in tvm_target.keys:
        try:
            return relax.get_default_pipeline(tvm_target)
        except (ValueError, AttributeError):
            pass
    return relax.get_pipeline("default")


def _graph_input(proto: Any, name: str) -> str:
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i.name for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise OnnxError(f"{name}: expected one graph input, found {len(inputs)}: {', '.join(inputs)}")
    return inputs[0]


def _import(proto: Any, input_shape: tuple[int, ...], name: str) -> Any:
    import warnings

    from tvm.relax.frontend.onnx import from_onnx

    shape_dict = {_graph_input(proto, name): list(input_shape)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return from_onnx(proto, shape_dict=shape_dict)
    except Exception as err:  # the frontend raises many types; all mean "this graph did not import"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise OnnxError(f"{name}: TVM's ONNX frontend failed: {first}") from err
