"""Never time while compiling: build libraries in worker processes first, then measure.

Compiling saturates the CPU that is about to be timed, so a profiling run splits into two phases:
`compile_many()` lowers every ONNX file to a TVM library in a `ProcessPoolExecutor` (spawn context,
so no TVM runtime state is forked into the workers) and returns only after the pool has shut down;
the caller then measures in the main process on a quiet machine. Libraries are cached by the ONNX
file's sha256, the input shape, the target hash, the pipeline name and the TVM version, so a second
run (or a re-measure pass) compiles nothing. A failing or crashing worker becomes a `LutnasError`
naming the ONNX file, and the remaining compiles are cancelled.

Workers never outlive the run: on Ctrl-C (or any error) the queued compiles are cancelled and the
workers killed at once, so the run stops within a second or two instead of after every queued
compile; and each worker dies with its parent (`PR_SET_PDEATHSIG` on Linux, plus a thread that
watches the parent pid everywhere), so `kill -9` of a profile leaves no compiler running.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lutnas.errors import LutnasError, ToolchainError, error_line
from lutnas.lowering.pipeline import DEFAULT_PIPELINE, pipeline_revision
from lutnas.lowering.targets import TargetSpec, resolve_target
from lutnas.paths import cache_dir


@dataclass(frozen=True)
class CompileJob:
    onnx_path: Path
    input_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "onnx_path", Path(self.onnx_path))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))


@dataclass(frozen=True)
class Compiled:
    onnx_path: Path
    library_path: Path
    cache_key: str
    cached: bool          # True: found in the cache, nothing was compiled
    seconds: float        # compile time in the worker (0 for cache hits)


def default_cache_dir() -> Path:
    return cache_dir("libs")


def cache_key(onnx_path: Path, input_shape: Sequence[int], target: TargetSpec, pipeline: str) -> str:
    h = hashlib.sha256()
    try:
        h.update(Path(onnx_path).read_bytes())
    except OSError as err:
        raise LutnasError(f"cannot read ONNX file {onnx_path}: {err.strerror}") from None
    try:
        tvm_version = metadata.version("apache-tvm")
    except metadata.PackageNotFoundError:
        tvm_version = "?"
    extra = json.dumps([list(input_shape), target.target_hash(), pipeline, tvm_version])
    revision = pipeline_revision(pipeline)
    if revision > 1:  # keys of revision-1 pipelines stay as they were (their caches remain valid)
        extra += f"#r{revision}"
    h.update(extra.encode())
    return h.hexdigest()[:24]


def compile_many(
    jobs: Sequence[CompileJob],
    target: str | TargetSpec,
    workers: int = 2,
    cache_dir: Path | None = None,
    pipeline: str = DEFAULT_PIPELINE,
    tuning_db: Path | None = None,
    kernels: bool = False,
) -> list[Compiled]:
    """Compile every job's ONNX file for `target` (a TargetSpec or name), in order of `jobs`.

    `tuning_db`: the MetaSchedule database a `lutnas-cpu+tuned:<hash>` pipeline applies (the hash in
    the pipeline name keys the cache, so a grown database compiles anew). `kernels`: also write the
    kernel library and kernel list beside each library (`lowering.kernels.build_with_kernels`); a
    cached library without its kernel list, or with a list of an older format, is compiled again."""
    target = resolve_target(target)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = [cache_key(j.onnx_path, j.input_shape, target, pipeline) for j in jobs]
    todo = {k: j for k, j in zip(keys, jobs) if not _cached(cache_dir / f"{k}.so", kernels)}
    seconds = _compile_in_workers(todo, target, pipeline, cache_dir, workers, tuning_db, kernels) if todo else {}
    return [
        Compiled(j.onnx_path, cache_dir / f"{k}.so", k, cached=k not in todo, seconds=seconds.get(k, 0.0))
        for k, j in zip(keys, jobs)
    ]


def _cached(library: Path, kernels: bool) -> bool:
    if not kernels:
        return library.is_file()
    from lutnas.lowering.kernels import kernel_list_is_current

    return library.is_file() and kernel_list_is_current(library)


def _compile_in_workers(
    todo: dict[str, CompileJob], target: TargetSpec, pipeline: str, cache_dir: Path, workers: int,
    tuning_db: Path | None = None, kernels: bool = False,
) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    pids = ctx.SimpleQueue()  # each worker announces its pid, so an interrupted run can kill them all
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo))), mp_context=ctx,
                               initializer=worker_init, initargs=(os.getpid(), pids))
    try:
        futures = {
            pool.submit(_compile_one, str(j.onnx_path), j.input_shape, target, pipeline, str(cache_dir), k,
                        None if tuning_db is None else str(tuning_db), kernels): j
            for k, j in todo.items()
        }
        seconds = _collect(futures)
    except BaseException:  # Ctrl-C, a failed compile: stop now, not after the queued compiles
        for pid in _stop_pool(pool, pids):
            for tmp in cache_dir.glob(f"*.{pid}.tmp.so"):
                tmp.unlink(missing_ok=True)
        raise
    pool.shutdown(wait=True)
    return seconds


def _collect(futures: dict[Any, CompileJob]) -> dict[str, float]:
    """{cache key: seconds} of every compile; the first failure raised as a `LutnasError`."""
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    seconds: dict[str, float] = {}
    for fut in done:
        if fut.exception() is not None:
            raise _as_lutnas_error(fut.exception(), futures[fut].onnx_path)
        key, took = fut.result()
        seconds[key] = took
    return seconds


def _stop_pool(pool: ProcessPoolExecutor, pids: Any) -> list[int]:
    """Cancel what is queued, SIGKILL every worker (a compile in flight included); returns their pids."""
    pool.shutdown(wait=False, cancel_futures=True)
    killed = []
    while not pids.empty():
        pid = pids.get()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_init(parent_pid: int, pids: Any = None) -> None:
    """Pool initializer: die with the parent (kill -9 of a profile must not leave a compiler running).

    Linux delivers SIGKILL on the parent's death (`prctl(PR_SET_PDEATHSIG)`); a daemon thread that
    polls the parent pid covers other systems and a parent that died before the prctl."""
    if pids is not None:
        pids.put(os.getpid())
    hide_torch()  # nothing has imported tvm yet: this initializer runs first
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="lutnas-parent-watch").start()


def hide_torch() -> None:
    """Make `import torch` fail in a process that runs TVM without torch (compile workers, `lutnas
    run`): tvm_ffi imports torch eagerly, for DLPack interop these processes never use, and that is
    2.3 s of TVM's 6 s import on this VM. Call before the first `import tvm`; no-op if torch is loaded."""
    sys.modules.setdefault("torch", None)  # type: ignore[arg-type]


def _watch_parent(parent_pid: int, every_s: float = 1.0) -> None:
    while os.getppid() == parent_pid:
        time.sleep(every_s)
    os._exit(1)


def _as_lutnas_error(err: BaseException, onnx_path: Path) -> LutnasError:
    if isinstance(err, LutnasError):
        return err
    if isinstance(err, BrokenProcessPool):
        return ToolchainError(f"a compile worker died while compiling {onnx_path} (or a file beside it)")
    return ToolchainError(f"compiling {onnx_path} failed: {type(err).__name__}: {err}")


def _compile_one(
    onnx_path: str, input_shape: tuple[int, ...], target: TargetSpec, pipeline: str, cache_dir: str, key: str,
    tuning_db: str | None = None, kernels: bool = False,
) -> tuple[str, float]:
    """Worker body: build, export to a temporary name, publish atomically. Errors leave as strings
    inside a LutnasError (TVM's own exception types need not pickle)."""
    t0 = time.perf_counter()
    out = Path(cache_dir) / f"{key}.so"
    tmp = out.with_name(f"{key}.{os.getpid()}.tmp.so")
    try:
        if kernels:
            _build_kernels(Path(onnx_path), input_shape, target, pipeline, tuning_db, tmp, out)
        else:
            from lutnas.lowering.tvm_build import build

            build(Path(onnx_path), input_shape, target, pipeline=pipeline, tuning_db=tuning_db).export_library(tmp)
            os.replace(tmp, out)
    except LutnasError as err:
        raise type(err)(str(err) if onnx_path in str(err) else f"{onnx_path}: {err}") from None
    except Exception as err:  # noqa: BLE001 -- anything from TVM / the linker, flattened to one line
        raise ToolchainError(f"compiling {onnx_path} failed: {type(err).__name__}: {error_line(err, last=True)}"
                             ) from None
    finally:
        tmp.unlink(missing_ok=True)
    took = time.perf_counter() - t0
    meta = {"onnx": onnx_path, "input_shape": list(input_shape), "target": target.canonical_json(),
            "pipeline": pipeline, "seconds": round(took, 3), "created_at": time.time()}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return key, took


def _build_kernels(onnx_path: Path, input_shape: tuple[int, ...], target: TargetSpec, pipeline: str,
                   tuning_db: str | None, tmp: Path, out: Path) -> None:
    """`build_with_kernels` into temporary names, published kernel library, library, list last (the
    list's presence marks a complete entry)."""
    from lutnas.lowering.kernels import build_with_kernels, kernel_library_path, kernel_list_path

    try:
        build_with_kernels(onnx_path, input_shape, target, tmp, pipeline=pipeline, tuning_db=tuning_db)
        if kernel_library_path(tmp).is_file():
            os.replace(kernel_library_path(tmp), kernel_library_path(out))
        os.replace(tmp, out)
        os.replace(kernel_list_path(tmp), kernel_list_path(out))
    finally:
        kernel_library_path(tmp).unlink(missing_ok=True)
        kernel_list_path(tmp).unlink(missing_ok=True)
