"""The lowering stage's one entry point: torch module -> ONNX -> TVM library, numerics checked.

Composes `export_onnx`, `build`, `BuiltModule.export_library` and `check_numerics` into a directory
artifact (the PyTorch -> ONNX -> Apache TVM deployment flow):

    out_dir/model.onnx            the interchange file (target independent, byte-stable)
    out_dir/model.<target>.so     the compiled Relax VM library for the target, stamped with the ONNX
                                  file's sha256 (`lowering.stamp`)
    out_dir/artifact.json         target JSON + hash, pipeline, ONNX sha256, input shape, numerics
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lutnas.lowering.numerics import NumericsReport, check_numerics
from lutnas.lowering.onnx_io import export_onnx, file_sha256
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.lowering.stamp import onnx_stamp
from lutnas.lowering.targets import TargetSpec, resolve_target
from lutnas.lowering.tvm_build import BuiltModule, build

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class LoweredArtifact:
    onnx_path: Path
    library_path: Path
    numerics: NumericsReport | None
    target: TargetSpec
    pipeline: str
    input_shape: tuple[int, ...]
    onnx_sha256: str
    built: BuiltModule

    def to_dict(self) -> dict:
        return {
            "onnx": self.onnx_path.name,
            "onnx_sha256": self.onnx_sha256,
            "library": self.library_path.name,
            "target": self.target.to_dict(),
            "pipeline": self.pipeline,
            "input_shape": list(self.input_shape),
            "numerics": self.numerics.to_dict() if self.numerics is not None else None,
        }


def lower(
    module: nn.Module,
    input_shape: tuple[int, ...],
    target: TargetSpec | str,
    out_dir: str | Path,
    pipeline: str = DEFAULT_PIPELINE,
    check: bool = True,
    tuning_db: str | Path | None = None,
) -> LoweredArtifact:
    """Export, compile, link and (if `check`) numerically check `module` for `target` in `out_dir`."""
    spec = resolve_target(target)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shape = tuple(int(d) for d in input_shape)
    onnx_path = export_onnx(module, shape, out_dir / "model.onnx")
    onnx_sha = file_sha256(onnx_path)
    built = build(onnx_path, shape, spec, pipeline=pipeline, tuning_db=tuning_db, stamp=onnx_stamp(onnx_sha))
    library = built.export_library(out_dir / f"model.{spec.name}.so")
    built = built.exported(library)   # numerics of the library that ships, and no second LLVM run
    numerics = check_numerics(module, onnx_path, built) if check else None
    artifact = LoweredArtifact(onnx_path, library, numerics, spec, pipeline, shape, onnx_sha, built)
    (out_dir / "artifact.json").write_text(json.dumps(artifact.to_dict(), indent=2) + "\n")
    return artifact
