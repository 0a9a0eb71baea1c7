"""Shared fixtures. `proxyless_table_db`: ONE real latency table, profiled once per test session.

It is the proxyless space at resolution 32 on this CPU with onnxruntime (1 thread): every unique
block exported to ONNX and timed for real, one pass each (`max_passes=1`), 3 samples of >= 1 ms.
onnxruntime needs no compilation, so the whole table takes well under a minute; tests that need
TVM compile a few blocks of their own. The ONNX files live in `lutnas_cache/blocks` so other tests
(and `lutnas profile` subprocesses given LUTNAS_CACHE=lutnas_cache) reuse the exports.

Each test gets its own copy of the table (`copy_database`, SQLite's online backup). One shared file
gave stale reads and "disk I/O error" about one full run in three: a test that read the file's bytes
(or `shutil.copy`-ed it) closed a file descriptor of it, and POSIX drops every lock a process holds
on a file when any descriptor of it closes. Another process then saw itself as the last user,
checkpointed and deleted the WAL and its shared-memory index, while this process's open connections
kept reading the unlinked index.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import copy_database

TABLE_SPACE = "proxyless"
TABLE_RESOLUTION = 32
TABLE_RUNTIME = "onnxruntime"


# -- tests marked `quiet` run alone ------------------------------------------------------------------
# Timings never overlap across xdist workers (the machine's timing lock), but one worker's compiles do
# overlap the other's timings. A test that bounds timings taken minutes apart (a table profiled, then
# validated) failed a fresh-clone run that way: profiled while the other worker compiled, anchors x2.94
# since. So a `quiet` test holds a reader-writer lock exclusively and every other test holds it shared:
# the other worker finishes its current test, then waits. The turnstile makes it fair (a waiting quiet
# test is not starved by the other worker's next tests).


@contextmanager
def _held(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)   # closing drops the flock


@contextmanager
def _test_turn(run_id: str, quiet: bool) -> Iterator[None]:
    base = Path(tempfile.gettempdir()) / f"lutnas-tests-{run_id}"
    with ExitStack() as turn:
        turnstile = turn.enter_context(ExitStack())
        turnstile.enter_context(_held(base.with_suffix(".turnstile"), fcntl.LOCK_EX))
        turn.enter_context(_held(base.with_suffix(".machine"), fcntl.LOCK_EX if quiet else fcntl.LOCK_SH))
        if not quiet:
            turnstile.close()   # shared holders let the next one in; a quiet test keeps the turnstile
        yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Setup, call and teardown of each test (session fixtures it builds included) inside its turn."""
    worker = getattr(item.config, "workerinput", None)
    if worker is None:       # one process: nothing runs beside it
        yield
        return
    with _test_turn(worker["testrunuid"], item.get_closest_marker("quiet") is not None):
        yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Each worker removes the run's lock files when it is done: the one still running recreates them
    on its next test and, alone by then, needs no lock against the finished one."""
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:
        base = Path(tempfile.gettempdir()) / f"lutnas-tests-{worker['testrunuid']}"
        for suffix in (".turnstile", ".machine"):
            base.with_suffix(suffix).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def lutnas_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide LUTNAS_CACHE directory (block ONNX exports under `blocks/`)."""
    return tmp_path_factory.mktemp("lutnas_cache")


@pytest.fixture(scope="session")
def proxyless_master_db(tmp_path_factory: pytest.TempPathFactory, lutnas_cache: Path) -> Path:
    """The session's one profiled table: only ever copied (never opened by a test)."""
    from lutnas.latency_tables.profile import ProfileSettings, profile_table
    from lutnas.profiler.stability import StabilityPolicy

    db = tmp_path_factory.mktemp("tables") / "proxyless32.db"
    profile_table(TABLE_SPACE, TABLE_RESOLUTION, "x86", TABLE_RUNTIME, db, threads=1,
                  policy=StabilityPolicy(max_passes=1), progress=False, work_dir=lutnas_cache / "blocks",
                  settings=ProfileSettings(repeats=3, min_repeat_ms=1.0, warmup=2))
    return db


@pytest.fixture
def proxyless_table_db(proxyless_master_db: Path, tmp_path: Path) -> Path:
    """Path of this test's own copy of a complete, really measured proxyless @ 32 px table."""
    return copy_database(proxyless_master_db, tmp_path / "table" / "proxyless32.db")


def _start_numba_threads() -> None:
    """One tiny parallel prediction: numba's threading layer starts (and sets OpenMP's threads) now."""
    from lutnas.latency_tables.kernels import PAD, latency_kernel

    latency_kernel(np.zeros((1, 1), np.int64), np.zeros(PAD), 0.0, np.zeros(1))   # one layer, choice 0


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (search tests: `pytestmark = pytest.mark.usefixtures(...)`).
    Tiny tensors gain nothing from threads, and OpenMP barriers stall badly on a busy shared machine
    (a 32 px single-path step took 1-5 s with 2 threads under load, 0.1 s with one). Set before every
    test, after numba's threading layer has started: its first parallel launch in a process (any
    `DenseTable.predict`) sets the OpenMP thread count, torch's too, back to every core, and inside a
    test that put the rest of it on two threads (an fbnet search pair: 9 s alone, 122-131 s beside a
    busy core)."""
    import torch

    _start_numba_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_space():
    """A two-layer space (4 unique blocks + stem + head) registered for one test: tuning, or compiling
    every block of proxyless for TVM, would take minutes; the path under test is the same."""
    from lutnas.spaces import SPACES
    from lutnas.spaces.base import Choice, FixedDef, HeadDef, SearchSpace, StageDef, make_layers

    choices = (Choice("k3_e3", "mbconv", 3, 3), Choice("k5_e3", "mbconv", 5, 3))
    space = SearchSpace(name="tiny-tuned-test", description="test only", stem=FixedDef("conv", 8, 3, 2, "relu"),
                        fixed=(), layers=make_layers([StageDef(16, 2, 2, "relu")], choices, Choice("zero", None),
                                                     in_ch=8),
                        head=HeadDef(64, "relu"), default_resolution=32, resolutions=(32,))
    SPACES.register(space.name, space)
    yield space
    SPACES._items.pop(space.name)
