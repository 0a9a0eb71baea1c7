"""One timing lock per device, across processes and databases: two runs never time at once.

Two `lutnas profile` runs on one machine slow each other's kernels, and neither can see it in its
own samples (a table built that way predicted 56.8 ms for an arch single runs timed at 25.4 and
11.6 ms). So every timed measurement holds the device's lock: an exclusive `fcntl` lock on one file
per device, held for one measurement (warm-up, calibration, samples) and released between them, so
compiling, exporting and writing tables never hold it and concurrent runs interleave job by job.
A process that finds the lock taken says so once ("waiting for the timing lock held by pid N ...")
and waits, or, with `--no-wait` (`set_wait(False)`), stops with one line naming the holder.

Devices: this machine (`LOCAL`: local runners of any runtime, and RPC servers on a loopback address,
which run on this CPU too) and each remote RPC server (`rpc-HOST-PORT`). Tracker runs take no lock:
the tracker already hands each board to one session at a time.

The lock files live in one directory for the whole machine, not under LUTNAS_CACHE (every run may
choose its own cache; they still share the CPU): $LUTNAS_LOCK_DIR, else <tmp>/lutnas-timing-locks,
world-writable with the sticky bit so every user's runs meet there. The holder writes its pid and
command line into the file for the waiting message. POSIX record locks belong to the process and a
kernel drops them when the holder dies, even by `kill -9`, so a stale lock cannot outlive its run.
Within a process the lock is re-entrant (threads serialise on an in-process lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lutnas.errors import DeviceError

LOCK_DIR_ENV = "LUTNAS_LOCK_DIR"
LOCAL = "local"

_policy = {"wait": True}
_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


@dataclass
class _Held:
    """This process's state for one device's lock."""

    path: Path
    fd: int | None = None
    depth: int = 0
    waited_before: bool = False
    thread_lock: threading.RLock = field(default_factory=threading.RLock)


def set_wait(wait: bool) -> None:
    """True: wait for a busy device (the default); False: refuse with a `DeviceError` (`--no-wait`)."""
    _policy["wait"] = bool(wait)


def lock_dir() -> Path:
    """The machine-wide directory of the lock files (created sticky and world-writable)."""
    chosen = os.environ.get(LOCK_DIR_ENV)
    path = Path(chosen) if chosen else Path(tempfile.gettempdir()) / "lutnas-timing-locks"
    if not path.is_dir():
        try:
            path.mkdir(parents=True, exist_ok=True)
            if not chosen:
                path.chmod(0o1777)
        except OSError as err:
            raise DeviceError(f"cannot create the timing lock directory {path} ({err.strerror}); "
                              f"set {LOCK_DIR_ENV} to a writable directory") from None
    return path


def rpc_device(host: str, port: int) -> str:
    """The device key of an RPC server: `LOCAL` when it runs on this machine's CPU."""
    return LOCAL if is_loopback(host) else f"rpc-{host}-{int(port)}"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.") or host == socket.gethostname():
        return True
    try:
        return socket.gethostbyname(host).startswith("127.")
    except OSError:
        return False


@contextlib.contextmanager
def timing_lock(device: str, notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold `device`'s timing lock for the body (re-entrant in this process)."""
    held = _state(device)
    with held.thread_lock:
        if held.depth == 0:
            _acquire(device, held, notify or _to_stderr)
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                fcntl.lockf(held.fd, fcntl.LOCK_UN)


def is_held(device: str) -> bool:
    """Whether this process holds `device`'s timing lock now."""
    return _state(device).depth > 0


def _state(device: str) -> _Held:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in device)
    with _held_guard:
        if device not in _held:
            _held[device] = _Held(lock_dir() / f"{safe}.lock")
        return _held[device]


def _acquire(device: str, held: _Held, notify: Callable[[str], None]) -> None:
    if held.fd is None:  # kept open for the process's life: closing any fd of the file drops its locks
        held.fd = os.open(held.path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(held.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _holder(held.path)
        if not _policy["wait"]:
            raise DeviceError(f"another run is timing on {_where(device)} ({holder}); refusing to time "
                              f"alongside it (--no-wait); run again when it is done") from None
        if not held.waited_before:
            notify(f"waiting for the timing lock held by {holder} on {_where(device)} ({held.path}) ...")
            held.waited_before = True
        fcntl.lockf(held.fd, fcntl.LOCK_EX)  # Ctrl-C interrupts the wait
    os.ftruncate(held.fd, 0)
    os.pwrite(held.fd, f"pid {os.getpid()}: {_command()}\n".encode(), 0)


def _holder(path: Path) -> str:
    """The holder's "pid N: command" line; it writes it just after taking the lock, so an empty file
    is read again briefly before the holder is called anonymous."""
    text = ""
    for _ in range(5):
        try:
            text = path.read_text().strip()
        except OSError:
            text = ""
        if text:
            break
        time.sleep(0.02)
    return text or "another process"


def _where(device: str) -> str:
    return "this machine" if device == LOCAL else device


def _command() -> str:
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    name = program.parent.name if program.name == "__main__.py" else program.name  # python -m lutnas
    return " ".join([name, *sys.argv[1:]])[:200] + f" (since {time.strftime('%H:%M:%S')})"


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
