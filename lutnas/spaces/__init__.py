"""Search spaces (ProxylessNAS, FBNet, Once-for-All MobileNetV3) as data, behind a registry.

`get_space(name)` returns an immutable `SearchSpace`; architectures are tuples of choice indices and
travel as `{"space": NAME, "archs": [[...], ...]}` JSON (`load_archs` / `dump_archs`). No torch here:
modules are built lazily by `BlockSpec.build()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from lutnas.errors import ArchError
from lutnas.registry import Registry
from lutnas.spaces import archfile, fbnet, ofa_mbv3, proxyless
from lutnas.spaces.base import Arch, Choice, LayerDef, LayerTable, SearchSpace
from lutnas.spaces.blocks import Block, BlockSpec

SPACES: Registry[SearchSpace] = Registry("search space")
for _module in (proxyless, fbnet, ofa_mbv3):
    SPACES.register(_module.SPACE.name, _module.SPACE)


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)


def space_names(pattern: str = "*") -> list[str]:
    return SPACES.names(pattern)


def resolve_space(space: str | SearchSpace) -> SearchSpace:
    """The space itself, or the registered space of that name: stage functions take either."""
    return get_space(space) if isinstance(space, str) else space


def load_archs(path: str | Path, space: str | None = None) -> tuple[str, list[Arch]]:
    """Read and validate an archs file; LutnasError subclasses name the file, arch index and layer.

    `space`: the space the caller works in (a table's, or one given on the command line); a file of
    another space is refused with both names."""
    file_space, archs = archfile.load_archs(path, get_space)
    if space is not None and space != file_space:
        raise ArchError(f"{path}: archs are for space {file_space!r}, not {space!r}")
    return file_space, archs


def load_arch(path: str | Path, index: int, space: str | None = None) -> tuple[SearchSpace, Arch]:
    """Arch number `index` of an archs file, with its space (`space` as in `load_archs`)."""
    file_space, archs = load_archs(path, space)
    if not 0 <= index < len(archs):
        raise ArchError(f"{path}: --index {index} out of range (file holds {len(archs)} archs)")
    return get_space(file_space), archs[index]


def sample_archs(space_name: str, count: int, seed: int) -> Iterator[Arch]:
    """`count` archs drawn uniformly from the space with `seed` (bounded: `archfile.MAX_SAMPLED_ARCHS`)."""
    return archfile.sample_archs(get_space(space_name), count, seed)


def dump_archs(space_name: str, archs: Iterable[Sequence[int]]) -> dict:
    """The JSON-ready archs file for `archs` (each validated against the space)."""
    return archfile.dump_archs(get_space(space_name), archs)


__all__ = [
    "Arch", "Block", "BlockSpec", "Choice", "LayerDef", "LayerTable", "SearchSpace",
    "dump_archs", "get_space", "load_arch", "load_archs", "resolve_space", "sample_archs", "space_names",
]
