"""From a block or a whole network to what the profiler times: the one owner of that road.

A table entry, a drift anchor, a tuned block and a validation network all travel it the same way:
1. the ONNX file, exported once and cached by key (`block_onnx_path` / `network_onnx_path` name it;
   a temporary name moved into place keeps a killed export from leaving half a file);
2. the compiled library of every file, built first in worker processes (`profiler.workers.
   compile_many`, cached by content; never time while compiling), for the TVM runtime only;
3. one `MeasureJob` per key, carrying the settings the table records.
Where the files live: `work_dir_for(db)` for a table's blocks, `default_network_dir()` for
networks; libraries in the compile cache. Whoever needs a block's ONNX path asks here. A block of a
channels-last TVM table is exported with its network's NHWC boundaries (`BlockBoundary`); tuning
exports it plain, and its records apply to the same convolution kernels either way.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.profiler.measurement import MeasureJob
from lutnas.progress import iter_progress, status_spinner

if TYPE_CHECKING:
    from torch import nn

    from lutnas.latency_tables.settings import ProfileSettings
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.lowering.targets import TargetSpec
    from lutnas.spaces import Block, SearchSpace
    from lutnas.spaces.base import LayerTable


# -- where the files live ------------------------------------------------------------------------------
def work_dir_for(db_path: Path) -> Path:
    from lutnas.paths import cache_dir, cache_root_is_set

    return cache_dir("blocks") if cache_root_is_set() else db_path.with_name(db_path.name + ".work")


def default_network_dir() -> Path:
    from lutnas.paths import cache_dir

    return cache_dir("networks")


def safe_name(key: str) -> str:
    """A block key as a file name (keys hold '@' and 'x', which stay; anything unusual becomes '_')."""
    return re.sub(r"[^A-Za-z0-9_.@x-]", "_", key)


def block_onnx_path(work_dir: Path, key: str, boundary: BlockBoundary | None = None) -> Path:
    suffix = "" if boundary is None or boundary.plain else f".{boundary.tag}"
    return Path(work_dir) / "onnx" / f"{safe_name(key)}{suffix}.onnx"


@dataclass(frozen=True)
class BlockBoundary:
    """Which of a block's tensors are channels-last (NHWC) where the block meets its neighbours.

    A channels-last pipeline runs a whole network in NHWC and transposes only the image in and
    nothing out (the classifier's output is flat). A block exported alone with NCHW input and output
    would get a transpose at each end, two copy kernels its network never runs: on a 128 px
    proxyless network the table over-predicted by ~10% with them. So for such pipelines a block is
    exported with NHWC input (unless it takes the image) and NHWC output (when 4-D), and the
    pipeline cancels the inverse transposes (`lowering.layout.cancel_inverse_permutes`): the block's
    library runs the kernels its network runs, on tensors in the network's layout.
    """

    nhwc_in: bool = False
    nhwc_out: bool = False

    @property
    def plain(self) -> bool:
        return not (self.nhwc_in or self.nhwc_out)

    @property
    def tag(self) -> str:
        return "nhwc-" + ("in" if self.nhwc_in else "") + ("out" if self.nhwc_out else "")

    @classmethod
    def of(cls, block: Block, network_boundaries: bool, takes_image: bool) -> BlockBoundary:
        if not network_boundaries:
            return cls()
        return cls(nhwc_in=not takes_image, nhwc_out=len(block.output_shape) == 4)

    def input_shape(self, block: Block) -> tuple[int, ...]:
        n, c, h, w = block.input_shape
        return (n, h, w, c) if self.nhwc_in else (n, c, h, w)

    def module(self, block: Block) -> nn.Module:
        return block.build() if self.plain else _boundary_class()(block.build(), self.nhwc_in, self.nhwc_out)


NETWORK_BOUNDARIES = "network"   # a table's options["block_boundaries"] when its blocks have them


def network_boundaries(pipeline: str, runtime: str) -> bool:
    """Whether new blocks for (pipeline, runtime) get their network's channels-last boundaries."""
    from lutnas.lowering.pipeline import is_channels_last

    return runtime == "tvm" and is_channels_last(pipeline)


def network_key(space_name: str, arch: Sequence[int], resolution: int, width_mult: float = 1.0,
                num_classes: int = 1000) -> str:
    """A readable, unique name for one network (used as the measurement key and file stem)."""
    text = json.dumps([space_name, list(arch), resolution, width_mult, num_classes])
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"net-{space_name}-r{resolution}-{digest}"


# -- ONNX -------------------------------------------------------------------------------------------
def image_keys(layout: LayerTable) -> set[str]:
    """The block keys of `layout` that take the network's image (its stem)."""
    return {k for k in layout.unique_blocks() if layout.role(k) == "stem"}


def export_block(block: Block, work_dir: Path, boundary: BlockBoundary | None = None) -> Path:
    """The ONNX file of one block (with `boundary`'s layouts at its ends), exported once."""
    boundary = boundary or BlockBoundary()
    return _export_once(lambda: boundary.module(block), boundary.input_shape(block),
                        block_onnx_path(work_dir, block.key, boundary))


@functools.cache
def _boundary_class() -> type[nn.Module]:
    from torch import nn

    class Boundary(nn.Module):
        """A block between channels-last neighbours: NHWC in and/or out, NCHW inside (as ONNX has it)."""

        def __init__(self, inner: nn.Module, nhwc_in: bool, nhwc_out: bool) -> None:
            super().__init__()
            self.inner, self.nhwc_in, self.nhwc_out = inner, nhwc_in, nhwc_out

        def forward(self, x):
            y = self.inner(x.permute(0, 3, 1, 2) if self.nhwc_in else x)
            return y.permute(0, 2, 3, 1) if self.nhwc_out else y

    return Boundary


def export_networks(space: SearchSpace, archs: Sequence[Sequence[int]], resolution: int, out_dir: Path, *,
                    width_mult: float = 1.0, num_classes: int = 1000) -> list[Path]:
    """ONNX file per arch (deterministic export, reused when already written)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for arch in archs:
        def module(arch: Sequence[int] = arch) -> nn.Module:
            return space.build(arch, resolution, num_classes=num_classes, width_mult=width_mult)

        path = out_dir / f"{network_key(space.name, arch, resolution, width_mult, num_classes)}.onnx"
        paths.append(_export_once(module, (1, 3, resolution, resolution), path))
    return paths


def _export_once(module: Callable[[], nn.Module], input_shape: tuple[int, ...], path: Path) -> Path:
    """Export `module()` to `path` unless it exists: written to a temporary name, then moved into place."""
    if path.is_file():
        return path
    from lutnas.lowering.onnx_io import export_onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.onnx")
    try:
        export_onnx(module(), input_shape, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# -- libraries and jobs -----------------------------------------------------------------------------
def compile_libraries(onnx_paths: Sequence[Path], shapes: Sequence[tuple[int, ...]], target: TargetSpec, *,
                      label: str, pipeline: str = DEFAULT_PIPELINE, workers: int = 2,
                      cache_dir: Path | None = None, tuning_db: Path | None = None,
                      progress: bool = False) -> list[Path]:
    """The library of each ONNX file (compiled in worker processes, or found in the cache)."""
    from lutnas.profiler.workers import CompileJob, compile_many

    with status_spinner(label, progress):
        built = compile_many([CompileJob(p, s) for p, s in zip(onnx_paths, shapes)], target, workers=workers,
                             cache_dir=cache_dir, pipeline=pipeline, tuning_db=tuning_db)
    return [c.library_path for c in built]


def block_jobs(
    blocks: Mapping[str, Block], *, runtime: str, target: TargetSpec, threads: int, settings: ProfileSettings,
    work_dir: Path, pipeline: str = DEFAULT_PIPELINE, workers: int = 2, progress: bool = False,
    tuning_db: str | Path | None = None, boundaries: bool = False, image_keys: Collection[str] = (),
) -> dict[str, MeasureJob]:
    """One `MeasureJob` per block key: export ONNX (cached by key), compile all (TVM), build the jobs.
    `boundaries`: blocks get their network's channels-last boundaries (`BlockBoundary`), except the
    input of `image_keys`, the blocks that take the network's image."""
    bounds = {k: BlockBoundary.of(b, boundaries, k in image_keys) for k, b in blocks.items()}
    shapes = {k: bounds[k].input_shape(b) for k, b in blocks.items()}
    onnx = {k: export_block(b, work_dir, bounds[k]) for k, b in
            iter_progress(blocks.items(), len(blocks), "exporting ONNX", progress)}
    libs: dict[str, Path | None] = dict.fromkeys(blocks)
    if runtime == "tvm" and blocks:
        built = compile_libraries([onnx[k] for k in blocks], [shapes[k] for k in blocks], target,
                                  label=f"compiling {len(blocks)} block(s) with {workers} worker(s)",
                                  pipeline=pipeline, workers=workers, progress=progress,
                                  tuning_db=None if tuning_db is None else Path(tuning_db))
        libs = dict(zip(blocks, built))
    return {k: MeasureJob(key=k, input_shape=shapes[k], runtime=runtime, library_path=libs[k],
                          onnx_path=onnx[k], target=target.name, threads=threads, repeats=settings.repeats,
                          min_repeat_ms=settings.min_repeat_ms, warmup=settings.warmup)
            for k, b in blocks.items()}


def network_jobs(
    space: SearchSpace, archs: Sequence[tuple[int, ...]], resolution: int, target: TargetSpec, runtime: str, *,
    threads: int = 1, pipeline: str = DEFAULT_PIPELINE, width_mult: float = 1.0, num_classes: int = 1000,
    work_dir: Path | None = None, cache_dir: Path | None = None, workers: int = 2,
    tuning_db: Path | None = None, progress: bool = False,
) -> list[MeasureJob]:
    """One `MeasureJob` per arch (in order): export each network (cached by key), compile all (TVM)."""
    net_dir = Path(work_dir) if work_dir is not None else default_network_dir()
    onnx_paths = export_networks(space, archs, resolution, net_dir / space.name, width_mult=width_mult,
                                 num_classes=num_classes)
    shape = (1, 3, resolution, resolution)
    libs: list[Path | None] = [None] * len(archs)
    if runtime == "tvm":
        libs = list(compile_libraries(onnx_paths, [shape] * len(archs), target, pipeline=pipeline,
                                      label=f"compiling {len(archs)} network(s) for {target.name}",
                                      workers=workers, cache_dir=cache_dir, tuning_db=tuning_db,
                                      progress=progress))
    return [MeasureJob(key=network_key(space.name, a, resolution, width_mult, num_classes), input_shape=shape,
                       runtime=runtime, library_path=lib, onnx_path=onnx, target=target.name, threads=threads)
            for a, onnx, lib in zip(archs, onnx_paths, libs)]


def table_block_jobs(table: LatencyTable, keys: Sequence[str], target: TargetSpec, threads: int, work_dir: Path,
                     tuning_db: Path | None = None, progress: bool = False) -> dict[str, MeasureJob]:
    """MeasureJobs of a table's blocks `keys`, built exactly as `profile` built them (drift anchors,
    the network context's interleaved run)."""
    from lutnas.latency_tables.settings import ProfileSettings
    from lutnas.spaces import get_space

    opts = table.meta.options
    settings = ProfileSettings(**{k: opts[k] for k in ("repeats", "min_repeat_ms", "warmup", "width_mult",
                                                       "num_classes") if k in opts})
    layout = get_space(table.meta.space).layer_table(table.meta.resolution, width_mult=settings.width_mult,
                                                     num_classes=settings.num_classes)
    blocks = layout.unique_blocks()
    return block_jobs({k: blocks[k] for k in keys}, runtime=table.meta.runtime, target=target, threads=threads,
                      settings=settings, work_dir=work_dir, pipeline=table.meta.pipeline, progress=progress,
                      tuning_db=tuning_db, image_keys=image_keys(layout),
                      boundaries=opts.get("block_boundaries") == NETWORK_BOUNDARIES)
