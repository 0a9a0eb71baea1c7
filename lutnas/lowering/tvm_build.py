"""ONNX -> Apache TVM (Relax) compilation for one target, and library export.

Imports the ONNX graph through `lowering.frontend` (TVM's Relax ONNX frontend at a static input
shape; an unsupported operator is named before import instead of surfacing as a converter
traceback), compiles it with `tvm.compile` under a named pipeline (`lowering.pipeline`), and
exports a shared library linked by the target's compiler (cross-linked for aarch64).
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
            raise ToolchainError(f"linking {path.name} with {compiler} failed: {error_line(err)}") from err
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


def build(
    model: onnx.ModelProto | str | Path,
    input_shape: tuple[int, ...],
    target: TargetSpec,
    pipeline: str = DEFAULT_PIPELINE,
    tuning_db: str | Path | None = None,
) -> BuiltModule:
    """Import `model` (ModelProto or path) at `input_shape` (`frontend.import_onnx`, as tuning does)
    and compile it for `target` under the named pipeline.

    `tuning_db`: the MetaSchedule database directory a `lutnas-cpu+tuned:<hash>` pipeline applies.
    """
    import tvm

    imported = import_onnx(model, tuple(input_shape))
    tvm_target = target.tvm_target()
    passes = build_pipeline(pipeline, tvm_target, database_dir=tuning_db)
    executable = tvm.compile(imported.mod, target=tvm_target, relax_pipeline="default" if passes is None else passes)
    return BuiltModule(executable, target, pipeline, tuple(input_shape), imported.input_name)
