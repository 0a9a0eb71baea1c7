"""The ONNX file a compiled library was built from, carried inside the library itself.

An artifact's manifest pins every file by sha256, but hashes alone do not tie the files together:
replace `model.onnx` and fix its hash in the manifest, and nothing says the library was compiled
from another model. So `lower()` compiles a second Relax function into the library,
`lutnas_onnx_sha256()`, returning the text `lutnas-onnx-sha256:<hex>` of the ONNX file it was built
from (`tvm_build.build(stamp=...)`). The VM constant is stored verbatim in the shared object, so
`read_stamp()` finds it by reading the file's bytes: no TVM, no loading, and the same on a host that
cannot execute the library (an arm64 or cuda artifact, a runtime-only box). `verify_artifact`
compares it with the ONNX file's hash.
"""

from __future__ import annotations

import mmap
import re
from pathlib import Path

STAMP_FUNCTION = "lutnas_onnx_sha256"
STAMP_PREFIX = b"lutnas-onnx-sha256:"
_STAMP = re.compile(re.escape(STAMP_PREFIX) + rb"([0-9a-f]{64})")


def onnx_stamp(onnx_sha256: str) -> str:
    """The string constant a library built from the ONNX file with this sha256 carries."""
    return STAMP_PREFIX.decode() + onnx_sha256


def read_stamp(library: str | Path) -> list[str]:
    """The ONNX sha256(s) stamped in a library file (none for a library built without a stamp)."""
    with open(library, "rb") as fh:
        if Path(library).stat().st_size == 0:
            return []
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return sorted({m.group(1).decode() for m in _STAMP.finditer(data)})
