"""ONNX -> Apache TVM (Relax) compilation for one target, and library export.

Imports the ONNX graph through `lowering.frontend` (TVM's Relax ONNX frontend at a static input
shape; an unsupported operator is named before import instead of surfacing as a converter
traceback), runs a named pipeline's Relax passes (`lowering.pipeline`; `lower_relax`), builds the
result with `relax.build` (`compile_lowered`; together what `tvm.compile` does), and exports a
shared library linked by the target's compiler (cross-linked for aarch64).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.errors import ToolchainError, error_line
from lutnas.lowering.frontend import import_onnx
from lutnas.lowering.onnx_io import INPUT_NAME
from lutnas.lowering.pipeline import DEFAULT_PIPELINE, build_pipeline
from lutnas.lowering.targets import TargetSpec

if TYPE_CHECKING:
    import onnx


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
            raise ToolchainError(f"linking {path.name} with {compiler} failed: {error_line(err)}") from err
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


def build(
    model: onnx.ModelProto | str | Path,
    input_shape: tuple[int, ...],
    target: TargetSpec,
    pipeline: str = DEFAULT_PIPELINE,
    tuning_db: str | Path | None = None,
    stamp: str | None = None,
) -> BuiltModule:
    """Import `model` (ModelProto or path) at `input_shape` (`frontend.import_onnx`, as tuning does)
    and compile it for `target` under the named pipeline.

    `tuning_db`: the MetaSchedule database directory a `lutnas-cpu+tuned:<hash>` pipeline applies.
    `stamp`: text the library returns from a function of its own (`lowering.stamp`: the ONNX file's hash).
    """
    mod, input_name = import_model(model, input_shape)
    if stamp is not None:
        mod = _with_stamp(mod, stamp)
    executable = compile_lowered(lower_relax(mod, target, pipeline, tuning_db), target)
    return BuiltModule(executable, target, pipeline, tuple(input_shape), input_name)


def import_model(model: onnx.ModelProto | str | Path, input_shape: tuple[int, ...]) -> tuple[Any, str]:
    """(Relax IRModule, graph input name) of an ONNX model at `input_shape` (`frontend.import_onnx`)."""
    imported = import_onnx(model, tuple(input_shape))
    return imported.mod, imported.input_name


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
    """Code generation and linking of a module `lower_relax` returned: the Relax VM executable.
    LLVM's code generation runs on several threads (`lowering.codegen`)."""
    import tvm

    from lutnas.lowering.codegen import compile_relax

    return compile_relax(lowered, target.tvm_target(), tvm.transform.Sequential([]))


def _with_stamp(mod: Any, stamp: str) -> Any:
    """`mod` plus a Relax function `STAMP_FUNCTION() -> stamp` (a VM constant: kept verbatim in the library)."""
    import tvm
    from tvm import relax

    from lutnas.lowering.stamp import STAMP_FUNCTION

    bb = relax.BlockBuilder()
    with bb.function(STAMP_FUNCTION, []):
        bb.emit_func_output(tvm.ir.StringImm(stamp))
    mod[STAMP_FUNCTION] = bb.get()[STAMP_FUNCTION]
    return mod


def _tvm_default_passes(tvm_target: Any) -> Any:
    """The pass `relax.build(relax_pipeline="default")` applies: the target's own on GPUs, else generic."""
    from tvm import relax

    if "gpu" in tvm_target.keys:
        try:
            return relax.get_default_pipeline(tvm_target)
        except (ValueError, AttributeError):
            pass
    return relax.get_pipeline("default")
