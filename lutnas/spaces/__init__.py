"""Search spaces (ProxylessNAS, FBNet, Once-for-All MobileNetV3) as data, behind a registry.

`get_space(name)` returns an immutable `SearchSpace`; architectures are tuples of choice indices and
travel as `{"space": NAME, "archs": [[...], ...]}` JSON (`load_archs` / `dump_archs`). No torch here:
modules are built lazily by `BlockSpec.build()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

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


def load_archs(path: str | Path) -> tuple[str, list[Arch]]:
    """Read and validate an archs file; LutnasError subclasses name the file, arch index and layer."""
    return archfile.load_archs(path, get_space)


def sample_archs(space_name: str, count: int, seed: int) -> Iterator[Arch]:
    """`count` archs drawn uniformly from the space with `seed` (bounded: `archfile.MAX_SAMPLED_ARCHS`)."""
    return archfile.sample_archs(get_space(space_name), count, seed)


def dump_archs(space_name: str, archs: Iterable[Sequence[int]]) -> dict:
    """The JSON-ready archs file for `archs` (each validated against the space)."""
    return archfile.dump_archs(get_space(space_name), archs)


__all__ = [
    "Arch", "Block", "BlockSpec", "Choice", "LayerDef", "LayerTable", "SearchSpace",
    "dump_archs", "get_space", "load_archs", "sample_archs", "space_names",
]
