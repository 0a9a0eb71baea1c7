"""Deployable artifact directories: the lowered model plus a manifest that pins what it is.

An artifact is what `lutnas export` hands to a device: `lower()`'s files (model.onnx, the compiled
library, artifact.json), a seeded reference input and PyTorch's output for it (`input.npy`,
`reference_output.npy`), and `manifest.json` holding the provenance (caller-supplied `info`: space,
arch, resolution, weights, ...), target JSON and hash, pipeline, library versions, input/output
shapes, the numerics check, the sha256 and size of every other file, and the latency slots the
caller fills (`predicted`, `measured`). Like a package lock file, the hashes are checked before
anything is loaded: `verify_artifact()` refuses a missing or changed file, naming it, a file that is a
symbolic link (an artifact holds its own files; a link could point anywhere), and an ONNX file that is
not the one the library was compiled from (the library's stamp, `lowering.stamp`, differs from its hash).

Knows no spaces or tables: the caller passes a torch module and plain `info`. Verification and the
manifest helpers import only hashlib/json/numpy, so a runtime-only host (a GPU box, a board) can
verify and run an artifact without torch, onnx or onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.errors import LutnasError

if TYPE_CHECKING:
    from torch import nn
    
    from lutnas.lowering.targets import TargetSpec

MANIFEST = "manifest.json"
FORMAT_VERSION = 2  # 2: the library carries its ONNX file's sha256 (lowering.stamp)
INPUT_FILE = "input.npy"
REFERENCE_FILE = "reference_output.npy"
REFERENCE_SEED = 0
VERSIONED = {"tvm": "apache-tvm", "tvm_ffi": "apache-tvm-ffi", "onnxruntime": "onnxruntime", "onnx": "onnx",
             "torch": "torch", "numpy": "numpy"}


class ArtifactError(LutnasError):
    """An artifact directory is incomplete, tampered with, or not a lutnas artifact."""


def export_artifact(module: nn.Module, input_shape: tuple[int, ...], target: str | TargetSpec, out_dir: str | Path,
                    info: dict[str, Any], pipeline: str | None = None,
                    tuning_db: str | Path | None = None) -> dict[str, Any]:
    """Lower `module` for `target` into `out_dir`, store the reference pair, write the manifest.

    Returns the manifest (already written; `update_manifest` adds latencies later).
    """
    import numpy as np
    import torch

    from lutnas.lowering.lower import lower
    from lutnas.lowering.pipeline import DEFAULT_PIPELINE

    out_dir = Path(out_dir)
    art = lower(module, input_shape, target, out_dir, pipeline=pipeline or DEFAULT_PIPELINE, tuning_db=tuning_db)
    x = np.random.default_rng(REFERENCE_SEED).standard_normal(art.input_shape, dtype=np.float32)
    with torch.no_grad():
        y = module.eval()(torch.from_numpy(x.copy())).numpy()
    np.save(out_dir / INPUT_FILE, x)
    np.save(out_dir / REFERENCE_FILE, y)
    numerics = art.numerics.to_dict() if art.numerics is not None else None
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **info,
        "target": art.target.to_dict(),
        "target_hash": art.target.target_hash(),
        "pipeline": art.pipeline,
        "versions": _versions(),
        "input": {"name": art.built.input_name, "shape": list(art.input_shape), "dtype": "float32"},
        "output": {"shape": list(y.shape), "dtype": str(y.dtype)},
        "onnx": art.onnx_path.name,
        "library": art.library_path.name,
        "reference": {"input": INPUT_FILE, "output": REFERENCE_FILE, "seed": REFERENCE_SEED,
                      "source": "torch", "rtol": numerics["rtol"] if numerics else 1e-3,
                      "atol": numerics["atol"] if numerics else 1e-4},
        "numerics": numerics,
        "predicted": info.get("predicted"),
        "measured": info.get("measured"),
        "files": {},
    }
    write_manifest(out_dir, manifest)
    return manifest


def write_manifest(out_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Hash every file in `out_dir` except the manifest itself, then write the manifest."""
    out_dir = Path(out_dir)
    manifest["files"] = {
        p.name: {"sha256": file_sha256(p), "bytes": p.stat().st_size}
        for p in sorted(out_dir.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def update_manifest(out_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Set top-level manifest fields (latencies, device checks) without re-hashing: files are unchanged."""
    path = Path(out_dir) / MANIFEST
    manifest = read_manifest(out_dir)
    manifest.update(fields)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / MANIFEST
    _refuse_link(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing; {out_dir} is not a lutnas artifact (make one with `lutnas export`)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise ArtifactError(f"{path}: manifest format {got!r}, this lutnas reads {FORMAT_VERSION} "
                            "(re-export the artifact with `lutnas export`)")
    for key in ("files", "library", "onnx", "input", "output", "reference", "target"):
        if key not in manifest:
            raise ArtifactError(f"{path}: manifest lacks {key!r}")
    return manifest


def verify_artifact(out_dir: str | Path) -> dict[str, Any]:
    """The manifest, once every file it lists exists with its recorded sha256 (else `ArtifactError`)."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    files = manifest["files"]
    needed = [manifest["library"], manifest["onnx"], manifest["reference"]["input"], manifest["reference"]["output"]]
    for name in needed:
        if name not in files:
            raise ArtifactError(f"{out_dir / MANIFEST}: {name} has no sha256 in the manifest; refusing to load")
    for name, rec in files.items():
        path = out_dir / name
        if not isinstance(name, str) or Path(name).name != name or name in (".", ".."):
            raise ArtifactError(f"{out_dir / MANIFEST}: file entry {name!r} is not a plain file name")
        _refuse_link(path)
        if not path.is_file():
            raise ArtifactError(f"{path}: missing (listed in the manifest); refusing to load the artifact")
        if file_sha256(path) != rec.get("sha256"):
            raise ArtifactError(f"{path}: sha256 differs from the manifest (file changed since export); "
                                "refusing to load the artifact")
    _check_stamp(out_dir, manifest)
    return manifest


def _refuse_link(path: Path) -> None:
    """An artifact's files are its own: a symbolic link (say, a library pointing elsewhere) is refused."""
    if path.is_symlink():
        raise ArtifactError(f"{path}: is a symbolic link (to {path.readlink()}); an artifact holds its own "
                            "files; refusing to load the artifact")


def _check_stamp(out_dir: Path, manifest: dict[str, Any]) -> None:
    """The library must have been compiled from the artifact's ONNX file (its stamp is that file's hash)."""
    from lutnas.lowering.stamp import read_stamp

    library, onnx = manifest["library"], manifest["onnx"]
    stamped = read_stamp(out_dir / library)
    if stamped != [manifest["files"][onnx]["sha256"]]:
        found = {0: "carries no ONNX stamp", 1: f"was built from ONNX sha256 {stamped[0][:12]}.."}.get(
            len(stamped), f"carries {len(stamped)} ONNX stamps")
        raise ArtifactError(f"{out_dir / onnx}: not the model {library} was compiled from ({library} {found}, "
                            f"{onnx} has sha256 {manifest['files'][onnx]['sha256'][:12]}..); refusing to load "
                            "the artifact")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for short, dist in VERSIONED.items():
        try:
            out[short] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[short] = None
    return out
