"""Where lutnas keeps its files: the cache root (LUTNAS_CACHE) and its subdirectories, resolved once.

Every stage that caches (compiled libraries, block exports, network exports, tuning databases,
boards) asks `cache_dir(name)`, so a bad LUTNAS_CACHE (a file, an unwritable place) is one line
naming the variable, not an OSError from whichever stage touched it first. A leaf module like
`errors`: it imports nothing of lutnas but the errors, so every stage may use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from lutnas.errors import LutnasError

CACHE_ENV = "LUTNAS_CACHE"


def cache_root_is_set() -> bool:
    """Whether the user chose the cache root (some caches live beside their database otherwise)."""
    return bool(os.environ.get(CACHE_ENV))


def cache_root() -> Path:
    """LUTNAS_CACHE, else ~/.cache/lutnas: created if missing; a `LutnasError` naming the variable when
    it is not a writable directory."""
    chosen = os.environ.get(CACHE_ENV)
    root = Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "lutnas"
    return usable_dir(root, f"{CACHE_ENV}={root}" if chosen else f"the cache directory {root} (set {CACHE_ENV})")


def cache_dir(name: str) -> Path:
    """The cache root's subdirectory `name` (libs, blocks, networks, tuning, boards), created."""
    return usable_dir(cache_root() / name, f"{CACHE_ENV} subdirectory {cache_root() / name}")


def usable_dir(path: Path, what: str) -> Path:
    """`path`, created if missing, once it is a directory this process can write; else one line."""
    if path.exists() and not path.is_dir():
        raise LutnasError(f"{what}: is a file, not a directory; point it at a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LutnasError(f"{what}: cannot create the directory ({err.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise LutnasError(f"{what}: directory is not writable by this user")
    return path
