"""Architecture files: `{"space": NAME, "archs": [[choice, ...], ...]}`, validated on load and dump."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from lutnas.errors import ArchError, UnknownNameError
from lutnas.spaces.base import Arch, SearchSpace


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
