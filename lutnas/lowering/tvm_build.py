"""ONNX -> Apache TVM (Relax) compilation for one target, and library export.

Imports the ONNX graph with TVM's Relax ONNX frontend (`tvm.relax.frontend.onnx.from_onnx`) at a
static input shape, compiles it with `tvm.compile` under a named pipeline (`lowering.pipeline`),
and exports a shared library linked by the target's compiler (cross-linked for aarch64). The
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
    # set by `exported()`: runs load this library instead of the in-memory executable, whose first
    # run would make LLVM emit the machine code a second time (~1/3 of a network's compile)
    library_path: Path | None = None

    def export_library(self, path: str | Path) -> Path:
        """Write the shared library, linked by the target's compiler; `ToolchainError` if it fails."""
        from tvm.support.cc import cross_compiler

        from lutnas.lowering.codegen import export_executable

        compiler = self.target.compiler()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fcompile = cross_compiler(compiler) if self.target.cross_compiler else None
        try:
            export_executable(self.executable, path, fcompile=fcompile)
        except Exception as err:  # TVM wraps compiler failures in RuntimeError / TVMError
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise ToolchainError(f"linking {path.name} with {compiler} failed: {first}") from err
        return path

    def exported(self, path: str | Path) -> BuiltModule:
        """This module, run from the library `export_library` wrote at `path`."""
        from dataclasses import replace

        return replace(self, library_path=Path(path))

    def device(self) -> Any:
        import tvm

        return tvm.device(self.target.device_type, 0)

    def vm(self) -> Any:
        """A Relax VirtualMachine on the target's device (only where `runnable_here()`)."""
        import tvm
        from tvm import relax

        if self.library_path is not None:
            return relax.VirtualMachine(tvm.runtime.load_module(str(self.library_path)), self.device())
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
    LLVM's code generation runs on several threads (`lowering.codegen`).
    """
    from lutnas.lowering.codegen import compile_relax

    name = "<model>"
    if isinstance(model, (str, Path)):
        name = str(model)
        model = load_onnx(model)
    missing = frontend_unsupported_ops(model)
    if missing:
        raise OnnxError(f"{name}: operator(s) TVM's ONNX frontend cannot import: {', '.join(missing)}")
    mod = _import(model, tuple(input_shape), name)
    tvm_target = target.tvm_target()
    passes = build_pipeline(pipeline, tvm_target, database_dir=tuning_db)
    executable = compile_relax(mod, tvm_target, "default" if passes is None else passes)
    return BuiltModule(executable, target, pipeline, tuple(input_shape), _graph_input(model, name))


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
