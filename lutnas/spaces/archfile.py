"""Architecture files: `{"space": NAME, "archs": [[choice, ...], ...]}`, validated on load and dump."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from lutnas.errors import ArchError, UnknownNameError
from lutnas.spaces.base import Arch, SearchSpace

# An archs file is JSON read whole into memory: a million archs is ~200 MB of it and ~1.5 min of
# sampling; a billion (a slip of the finger) would be ~200 GB written for hours.
MAX_SAMPLED_ARCHS = 1_000_000


def sample_archs(space: SearchSpace, count: int, seed: int) -> Iterator[Arch]:
    """`count` uniform draws (`SearchSpace.sample`) from `seed`, refused up front when `count` is not
    a sane size for an archs file (ArchError naming the bound)."""
    if count < 1 or count > MAX_SAMPLED_ARCHS:
        raise ArchError(f"-n {count}: sample between 1 and {MAX_SAMPLED_ARCHS:,} archs per file; for more, "
                        "write several files with different --seed")
    rng = np.random.default_rng(seed)
    return (space.sample(rng) for _ in range(count))


def dump_archs(space: SearchSpace, archs: Iterable[Sequence[int]]) -> dict:
    return {"space": space.name, "archs": [list(space.validate(a)) for a in archs]}


def load_archs(path: str | Path, get_space) -> tuple[str, list[Arch]]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise ArchError(f"{path}: cannot read archs file ({err.strerror or err})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArchError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ArchError(f'{path}: expected an object {{"space": NAME, "archs": [[...], ...]}}')
    for key in ("space", "archs"):
        if key not in data:
            raise ArchError(f"{path}: missing key {key!r}")
    if not isinstance(data["archs"], list):
        raise ArchError(f"{path}: 'archs' must be a list of lists of ints")
    try:
        space = get_space(str(data["space"]))
    except UnknownNameError as err:
        raise UnknownNameError(f"{path}: {err}") from None
    archs = []
    for i, arch in enumerate(data["archs"]):
        try:
            archs.append(space.validate(arch))
        except ArchError as err:
            raise ArchError(f"{path}: arch {i}: {err}") from None
    return space.name, archs
