"""Remote runners: time jobs on a board over Apache TVM's RPC, alone or as a tracker-backed farm.

Follows TVM's own remote measurement flow (`tvm.rpc.connect` / `connect_tracker(...).request(key)`,
`remote.upload`, `remote.load_module`, `remote.cpu()`, the module's `time_evaluator` running on the
board), so the timing loop is the SAME `harness.time_tvm(lib, dev, job)` the local runner uses:
only where the library and device come from differs.

- `RPCRunner(host, port, target, ...)`: one board, one session (reconnected when lost). A lost
  connection mid-measure is a `DeviceError` naming the board.
- `TrackerRunner(tracker_host, tracker_port, key, ...)`: every board registered under `key` with
  TVM's tracker (`python -m tvm.exec.rpc_tracker`). `measure_many(jobs, on_result)` keeps one worker
  thread per board (each board times independently; the tracker hands each worker a free board);
  a job whose board fails is put back on the queue for another board, and results are delivered
  exactly once, in the caller's thread (so `on_result` may write to SQLite).

What `describe()` reports about the board: `/proc/cpuinfo` read through the RPC server's download
function (its model name, or its x86 vendor when qemu-user serves the host's file), the thread pool
size from the remote `runtime.NumThreads`, and the machine inferred from the target (a library for
aarch64 loaded there means an aarch64 user space). `emulated` is the caller's explicit answer, else
inferred: an aarch64 target on a board whose /proc/cpuinfo is x86 is qemu-user.
"""

from __future__ import annotations

import functools
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lutnas.errors import DeviceError, LutnasError, error_line
from lutnas.lowering.targets import TargetSpec, resolve_target
from lutnas.profiler import harness, tvm_runtime
from lutnas.profiler.fingerprint import fingerprint, fingerprint_id
from lutnas.profiler.kernel_timing import (
    BOARD_CACHE_MODES,
    CACHE_MODES,
    BoardReplay,
    KernelJob,
    check_kernel_job,
    time_kernel,
    time_kernel_in_model,
)
from lutnas.profiler.measurement import MeasureJob, Measurement
from lutnas.profiler.runners import OnResult, measure_in_turn
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, assess
from lutnas.profiler.timing_lock import rpc_device, timing_lock

if TYPE_CHECKING:
    import numpy as np

Timed = TypeVar("Timed")
MAX_LOADED = 8  # libraries kept loaded per board session (boards have little memory)


def parse_address(text: str, what: str = "--rpc") -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit():
        raise LutnasError(f"{what} {text!r}: expected HOST:PORT")
    return host, int(port)


@dataclass
class _Session:
    """One open RPC session and what was uploaded through it."""

    remote: Any
    where: str
    uploaded: dict[str, Any]
    threads_ok: bool = False
    hooked: bool | None = None          # the server carries lutnas's board hooks (in-model timing)
    replay: BoardReplay | None = None   # the model whose kernels are being timed in its loop


class _RemoteTiming:
    """Shared by both runners: upload, load, time with the harness, describe the board."""

    target: TargetSpec
    runtime: str
    threads: int
    policy: StabilityPolicy
    emulated: bool | None

    def _setup(self, target: str | TargetSpec, runtime: str, threads: int, policy: StabilityPolicy,
               emulated: bool | None) -> None:
        if runtime != "tvm":
            raise LutnasError(f"--rpc / --tracker time the TVM runtime only, not {runtime!r}")
        self.target = resolve_target(target)
        self.runtime, self.threads, self.policy, self.emulated = runtime, int(threads), policy, emulated
        self._board: dict[str, Any] | None = None

    def _check_job(self, job: MeasureJob) -> None:
        name = self.target.name
        if (job.runtime, job.threads, job.target) != (self.runtime, self.threads, name):
            raise LutnasError(
                f"job {job.key!r} asks for {job.runtime}/{job.target} with {job.threads} thread(s); "
                f"this runner measures {self.runtime}/{name} with {self.threads}"
            )

    def _load(self, session: _Session, path: Path) -> tuple[Any, Any]:
        """Upload `path` once per session, load it on the board; (remote module, remote device)."""
        if not path.is_file():
            raise LutnasError(f"cannot measure: {path} does not exist")
        lib_id = _lib_id(path)
        if lib_id not in session.uploaded:
            while len(session.uploaded) >= MAX_LOADED:  # a profile uploads hundreds of blocks: keep few loaded
                old = next(iter(session.uploaded))
                del session.uploaded[old]
                session.remote.remove(f"{old}.so")
            session.remote.upload(str(path), target=f"{lib_id}.so")
            session.uploaded[lib_id] = session.remote.load_module(f"{lib_id}.so")
        kind = self.target.device_type
        dev = session.remote.cuda(0) if kind == "cuda" else session.remote.cpu(0)
        return session.uploaded[lib_id], dev

    def _run_on(self, session: _Session, job: MeasureJob, x: np.ndarray) -> np.ndarray:
        return tvm_runtime.run_main(*self._load(session, Path(job.library_path)), x)

    def _check_threads(self, session: _Session) -> None:
        """The board's TVM thread pool must have the runner's size (like LocalRunner's check)."""
        if session.threads_ok:
            return
        try:
            actual = int(session.remote.get_function("runtime.NumThreads")())
        except AttributeError:  # a runtime without the function: cannot check, trust the caller
            actual = self.threads
        if actual != self.threads:
            raise LutnasError(f"board {session.where} runs TVM with {actual} thread(s) but {self.threads} were "
                              f"asked; start its RPC server with TVM_NUM_THREADS={self.threads}")
        session.threads_ok = True

    def _time_on(self, session: _Session, job: MeasureJob) -> Measurement:
        self._check_threads(session)
        lib, dev = self._load(session, Path(job.library_path))
        m = harness.time_tvm(lib, dev, job)
        return assess(replace(m, meta={**m.meta, "board": session.where}), self.policy)

    def kernel_cache_modes(self) -> tuple[str, ...]:
        """Kernels alone (hot, flush): the boards of a farm may serve differently (RPCRunner asks its board)."""
        return BOARD_CACHE_MODES

    def _check_kernel_mode(self, job: KernelJob) -> None:
        modes = self.kernel_cache_modes()
        if job.cache_mode not in modes:
            raise LutnasError(f"kernel {job.key}: {job.cache_mode} timing runs the model's VM with a Python hook, "
                              f"which this board's RPC server lacks (`lutnas board up` servers carry it); profile "
                              f"it with --cache-mode {' or '.join(modes)}")

    def _time_kernel_on(self, session: _Session, job: KernelJob) -> Measurement:
        check_kernel_job(job, self.runtime, getattr(self.target, "name", job.target), self.threads)
        self._check_threads(session)
        lib, dev = self._load(session, Path(job.library_path))
        if job.model is not None and job.cache_mode == "in-model":
            m = time_kernel_in_model(job, self._board_replay(session, job, job.model, dev))
        else:
            m = time_kernel(lib, dev, job)
        return assess(replace(m, meta={**m.meta, "board": session.where}), self.policy)

    def _board_replay(self, session: _Session, job: KernelJob, model: MeasureJob, dev: Any) -> BoardReplay:
        """The model's run captured on the board by its hooks (`board_hooks`), one model at a time."""
        import tvm

        path = Path(str(model.library_path))
        if session.replay is None or session.replay.library_path != path:
            self._check_job(model)
            self._load(session, path)
            self._load(session, Path(job.library_path))   # again: uploading the model may have evicted it
            on_board = session.remote.get_function("tvm.rpc.server.workpath")
            x = tvm.runtime.tensor(harness.random_input(model), dev)
            session.replay = BoardReplay.capture(session.remote, on_board(f"{_lib_id(path)}.so"),
                                                 on_board(f"{_lib_id(Path(job.library_path))}.so"), x, path)
        return session.replay

    def _query_board(self, session: _Session) -> dict[str, Any]:
        return query_board(session.remote, session.where)

    def _describe(self, info: dict[str, Any]) -> dict[str, Any]:
        machine = self.target.machine
        emulated, why = self.emulated, "given by the caller"
        if emulated is None:
            board_arch = info.get("cpu_type")
            emulated = bool(machine and board_arch and board_arch != machine)
            why = (f"inferred: the board's sysfs reports a {board_arch} CPU under an {machine} user space "
                   "(qemu-user)" if emulated else "inferred: the board's sysfs CPU type matches the target")
        cpu = info.get("cpu_model") or "unknown"
        fp = fingerprint(self.target, self.runtime, self.threads, emulated=emulated, host_cpu=cpu)
        # fingerprint() describes this host; replace what the board reported or what its target implies.
        fp.update({
            "cpu_model": cpu,
            "cpu_logical": info.get("cpu_count") or 0,
            "cpu_physical": info.get("cpu_count") or 0,
            "machine": machine or fp["machine"],
            "os": info.get("os") or fp["os"],
            "memory_bytes": None, "hypervisor": None, "kernel": None, "governor": None, "load_avg": None,
            "emulation_reason": why,
            "remote": {**info, "inferred": ["machine from the target", "cpu_physical = online CPUs"]},
        })
        fp["fingerprint_id"] = fingerprint_id(fp)
        return fp


def query_board(remote: Any, where: str) -> dict[str, Any]:
    """What an RPC server's board says about itself, through the server's file download (regular and
    sysfs files only: procfs files read as empty there). Missing files are left out, not guessed."""

    def read(path: str) -> str:
        try:
            return bytes(remote.download(path)).split(b"\0", 1)[0].decode(errors="replace").strip()
        except Exception:  # noqa: BLE001 -- absent on this board
            return ""

    info: dict[str, Any] = {"board": where}
    modalias = read("/sys/devices/system/cpu/modalias")  # "cpu:type:aarch64:feature:..." / "cpu:type:x86,ven..."
    if modalias.startswith("cpu:type:"):
        kind = modalias[len("cpu:type:"):].split(":", 1)[0]
        info["cpu_type"] = "x86_64" if kind.startswith("x86") else kind
        if kind.startswith("x86,"):
            info["cpu_model"] = f"x86 {kind.split(',', 1)[1]}"
    midr = read("/sys/devices/system/cpu/cpu0/regs/identification/midr_el1")
    if midr:
        info["cpu_model"] = arm_cpu_name(int(midr, 16))
    online = read("/sys/devices/system/cpu/online")
    if online:
        info["cpu_count"] = _count_cpus(online)
    for line in read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            info["os"] = line.split("=", 1)[1].strip('"')
    try:
        info["remote_threads"] = int(remote.get_function("runtime.NumThreads")())
    except Exception:  # noqa: BLE001 -- older runtimes lack it
        info["remote_threads"] = None
    return info


# MIDR_EL1 part numbers of common Arm Ltd (implementer 0x41) cores.
_ARM_PARTS = {
    0xD03: "Cortex-A53", 0xD04: "Cortex-A35", 0xD05: "Cortex-A55", 0xD07: "Cortex-A57", 0xD08: "Cortex-A72",
    0xD09: "Cortex-A73", 0xD0A: "Cortex-A75", 0xD0B: "Cortex-A76", 0xD0C: "Neoverse-N1", 0xD0D: "Cortex-A77",
    0xD40: "Neoverse-V1", 0xD41: "Cortex-A78", 0xD44: "Cortex-X1", 0xD46: "Cortex-A510", 0xD47: "Cortex-A710",
    0xD49: "Neoverse-N2", 0xD4B: "Cortex-A78C", 0xD4F: "Neoverse-V2",
}


def arm_cpu_name(midr: int) -> str:
    implementer, part, variant, revision = midr >> 24 & 0xFF, midr >> 4 & 0xFFF, midr >> 20 & 0xF, midr & 0xF
    name = _ARM_PARTS.get(part) if implementer == 0x41 else None
    return f"{name or f'implementer 0x{implementer:02x} part 0x{part:03x}'} r{variant}p{revision}"


def _count_cpus(ranges: str) -> int:
    total = 0
    for part in ranges.split(","):
        lo, _, hi = part.partition("-")
        total += (int(hi) - int(lo) + 1) if hi else 1
    return total


class RPCRunner(_RemoteTiming):
    """Times jobs on one TVM RPC server (a board) at host:port."""

    name = "RPCRunner"
    interleaves = True

    def __init__(self, host: str, port: int, target: str | TargetSpec = "arm64", runtime: str = "tvm", threads: int = 1,
                 policy: StabilityPolicy = DEFAULT_POLICY, key: str = "", emulated: bool | None = None,
                 session_timeout: float = 0) -> None:
        self._setup(target, runtime, threads, policy, emulated)
        self.host, self.port, self.key, self.session_timeout = host, int(port), key, session_timeout
        self._session: _Session | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def kernel_cache_modes(self) -> tuple[str, ...]:
        """in-model too where the board's server carries lutnas's hooks (`lutnas board up`); a stock
        TVM RPC server times kernels alone (hot, flush)."""
        session = self._connect()
        if session.hooked is None:
            session.hooked = _has_function(session.remote, "lutnas.board.capture")
        return CACHE_MODES if session.hooked else BOARD_CACHE_MODES

    def _connect(self) -> _Session:
        if self._session is None:
            import tvm.rpc

            try:
                remote = tvm.rpc.connect(self.host, self.port, key=self.key, session_timeout=self.session_timeout)
            except Exception as err:  # noqa: BLE001 -- TVM raises RuntimeError/TVMError/OSError for a dead server
                raise DeviceError(f"cannot connect to RPC server {self.where}: {error_line(err, last=True)}") from None
            self._session = _Session(remote, self.where, {})
        return self._session

    def measure(self, job: MeasureJob) -> Measurement:

        self._check_job(job)
        return self._timed_on_board(f"measuring {job.key!r}", lambda session: self._time_on(session, job))

    def measure_kernel(self, job: KernelJob) -> Measurement:
        """Time one kernel alone on the board (its kernel library uploaded once per session)."""
        self._check_kernel_mode(job)
        return self._timed_on_board(f"timing kernel {job.key}", lambda session: self._time_kernel_on(session, job))

    def _timed_on_board(self, what: str, time_on: Callable[[Any], Timed]) -> Timed:
        """`time_on(session)` under the board's timing lock; a failing RPC means the board is gone."""
        session = self._connect()
        try:
            with timing_lock(rpc_device(self.host, self.port)):  # one run at a time times this board
                return time_on(session)
        except LutnasError:
            raise
        except Exception as err:  # noqa: BLE001 -- any RPC failure here means the board is gone
            self._session = None
            raise DeviceError(f"RPC board {self.where} lost while {what}: {error_line(err, last=True)}") from None

    def measure_many(self, jobs: Sequence[MeasureJob], on_result: OnResult | None = None) -> list[Measurement]:
        return measure_in_turn(self, jobs, on_result)

    def sampler(self, job: MeasureJob) -> harness.Sampler:
        """The job loaded on the board and calibrated; a sample that fails means the board is gone."""
        self._check_job(job)

        def load(session: _Session) -> harness.Sampler:
            self._check_threads(session)
            return harness.tvm_sampler(*self._load(session, Path(job.library_path)), job)

        sampler = self._timed_on_board(f"calibrating {job.key!r}", load)

        def on_board(n: int) -> tuple[float, ...]:
            return self._timed_on_board(f"measuring {job.key!r}", lambda session: sampler.evaluate(n))

        return replace(sampler, evaluate=on_board)

    def holding(self) -> AbstractContextManager[object]:
        return timing_lock(rpc_device(self.host, self.port))

    def describe(self) -> dict[str, Any]:
        if self._board is None:
            session = self._connect()
            try:
                self._board = self._query_board(session)
            except Exception as err:  # noqa: BLE001
                self._session = None
                raise DeviceError(f"RPC board {self.where} lost while describing it: {error_line(err, last=True)}") from None
        return self._describe(self._board)

    def run_once(self, job: MeasureJob, x: np.ndarray) -> np.ndarray:
        """Run the job's library once on the board with input `x`; the first output as NumPy."""
        session = self._connect()
        try:
            return self._run_on(session, job, x)
        except LutnasError:
            raise
        except Exception as err:  # noqa: BLE001
            self._session = None
            raise DeviceError(f"RPC board {self.where} failed running {job.key!r}: {error_line(err, last=True)}") from None

    def close(self) -> None:
        self._session = None


class TrackerRunner(_RemoteTiming):
    """Times jobs on the boards registered under `key` with a TVM RPC tracker.

    `measure(job)` borrows one free board for one job. `measure_many` runs `workers` threads (default:
    the number of boards the tracker lists under `key`), each holding one board's session; a failure
    on a board re-queues its job (at most `max_attempts` tries per job) and that worker requests a
    new board. `request_timeout_s` bounds the wait for a free board.
    """

    name = "TrackerRunner"
    interleaves = False     # each job goes to any free board

    def __init__(self, tracker_host: str, tracker_port: int, key: str, target: str | TargetSpec = "arm64",
                 runtime: str = "tvm", threads: int = 1, policy: StabilityPolicy = DEFAULT_POLICY,
                 emulated: bool | None = None, workers: int | None = None, max_attempts: int = 3,
                 request_timeout_s: float = 120.0) -> None:
        self._setup(target, runtime, threads, policy, emulated)
        self.tracker_host, self.tracker_port, self.key = tracker_host, int(tracker_port), key
        self.workers, self.max_attempts, self.request_timeout_s = workers, max_attempts, request_timeout_s
        self.log: list[dict[str, Any]] = []  # one row per attempt: key, board, ok, error

    @property
    def where(self) -> str:
        return f"tracker {self.tracker_host}:{self.tracker_port} key {self.key!r}"

    def _tracker(self) -> Any:
        import tvm.rpc

        try:
            return tvm.rpc.connect_tracker(self.tracker_host, self.tracker_port)
        except Exception as err:  # noqa: BLE001
            raise DeviceError(f"cannot connect to RPC {self.where}: {error_line(err, last=True)}") from None

    def boards(self) -> int:
        """How many servers the tracker lists under our key (free or busy)."""
        servers = self._tracker().summary().get("server_info", [])
        return sum(1 for s in servers if str(s.get("key", "")) == f"server:{self.key}")

    def _request(self) -> _Session:
        """A session on a free board under `key`, through TVM's tracker protocol (the REQUEST message
        of `TrackerSession.request`, sent here so the board's address is known and the wait bounded)."""
        import socket
        import struct

        import tvm.rpc
        from tvm.rpc import base

        try:
            sock = socket.create_connection((self.tracker_host, self.tracker_port), timeout=10)
        except OSError as err:
            raise DeviceError(f"cannot connect to RPC {self.where}: {err}") from None
        try:
            sock.settimeout(self.request_timeout_s)
            sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
            if struct.unpack("<i", base.recvall(sock, 4))[0] != base.RPC_TRACKER_MAGIC:
                raise DeviceError(f"{self.tracker_host}:{self.tracker_port} is not a TVM RPC tracker")
            base.sendjson(sock, [base.TrackerCode.REQUEST, self.key, "", 1])
            value = base.recvjson(sock)
        except (OSError, RuntimeError) as err:
            raise DeviceError(f"no board from {self.where} within {self.request_timeout_s:.0f} s: "
                              f"{error_line(err, last=True)}") from None
        finally:
            sock.close()
        if value[0] != base.TrackerCode.SUCCESS:
            raise DeviceError(f"{self.where} refused the request: {value}")
        url, port, matchkey = value[1]
        where = f"{url}:{port}"
        try:
            return _Session(tvm.rpc.connect(url, port, matchkey), where, {})
        except Exception as err:  # noqa: BLE001 -- the board went away between tracker and connect
            raise DeviceError(f"board {where} from {self.where} refused the session: {error_line(err, last=True)}") from None

    def measure(self, job: MeasureJob) -> Measurement:
        return self.measure_many([job])[0]

    def sampler(self, job: MeasureJob) -> None:
        """None: a farm hands each job to any free board, so jobs cannot be interleaved on one device."""

    def holding(self) -> AbstractContextManager[object]:
        return nullcontext()

    def measure_kernel(self, job: KernelJob) -> Measurement:
        """Time one kernel alone on a free board (retried on another if the board fails)."""
        self._check_kernel_mode(job)
        last = ""
        for _ in range(self.max_attempts):
            session = self._request()
            try:
                return self._time_kernel_on(session, job)
            except LutnasError:
                raise
            except Exception as err:  # noqa: BLE001 -- board lost: try another
                last = f"{session.where}: {error_line(err, last=True)}"
        raise DeviceError(f"timing kernel {job.key} failed on {self.max_attempts} board(s); last: {last}")

    def run_once(self, job: MeasureJob, x: np.ndarray) -> np.ndarray:
        """Run the job's library once on a free board (retried on another if the board fails)."""
        self._check_job(job)
        last = ""
        for _ in range(self.max_attempts):
            session = self._request()
            try:
                return self._run_on(session, job, x)
            except LutnasError:
                raise
            except Exception as err:  # noqa: BLE001 -- board lost: try another
                last = f"{session.where}: {error_line(err, last=True)}"
        raise DeviceError(f"running {job.key!r} failed on {self.max_attempts} board(s); last: {last}")

    def measure_many(self, jobs: Sequence[MeasureJob], on_result: OnResult | None = None) -> list[Measurement]:
        for job in jobs:
            self._check_job(job)
        if not jobs:
            return []
        n_workers = self.workers or max(1, self.boards())
        n_workers = min(n_workers, len(jobs))
        todo: queue.Queue[int] = queue.Queue()
        for i in range(len(jobs)):
            todo.put(i)
        results: queue.Queue[tuple[int, Measurement | None, str]] = queue.Queue()
        attempts = [0] * len(jobs)
        stop = threading.Event()
        lock = threading.Lock()

        def worker() -> None:
            session = None
            while not stop.is_set():
                try:
                    i = todo.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    if session is None:
                        session = self._request()
                    m = self._time_on(session, jobs[i])
                    self.log.append({"key": jobs[i].key, "board": session.where, "ok": True, "error": ""})
                    results.put((i, m, ""))
                except Exception as err:  # noqa: BLE001 -- board lost (or no board): retry elsewhere
                    where = session.where if session else self.where
                    msg = f"{where}: {error_line(err, last=True)}"
                    self.log.append({"key": jobs[i].key, "board": where, "ok": False, "error": msg})
                    session = None
                    with lock:
                        attempts[i] += 1
                        final = attempts[i] >= self.max_attempts
                    if final:
                        results.put((i, None, msg))
                    else:
                        todo.put(i)
                        time.sleep(0.5)

        threads = [threading.Thread(target=worker, daemon=True, name=f"board-{w}") for w in range(n_workers)]
        for t in threads:
            t.start()
        out: list[Measurement | None] = [None] * len(jobs)
        try:
            for _ in range(len(jobs)):
                i, m, err = results.get()
                if m is None:
                    raise DeviceError(f"job {jobs[i].key!r} failed on {attempts[i]} board(s); last: {err}")
                out[i] = m
                if on_result is not None:
                    on_result(jobs[i], m)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=self.request_timeout_s + 5)
        return [m for m in out if m is not None]

    def describe(self) -> dict[str, Any]:
        if self._board is None:
            session = self._request()
            try:
                self._board = self._query_board(session)
            except Exception as err:  # noqa: BLE001
                raise DeviceError(f"board from {self.where} lost while describing it: {error_line(err, last=True)}") from None
        fp = self._describe(self._board)
        fp["remote"]["tracker"] = f"{self.tracker_host}:{self.tracker_port}"
        fp["remote"]["key"] = self.key
        fp["remote"]["note"] = "boards under one key are assumed identical; the first one was queried"
        return fp

    def close(self) -> None:
        """Nothing to let go of: every `measure_many` opens its boards' sessions and drops them."""


def _lib_id(path: Path) -> str:
    """The library's upload name: a hash of its bytes, read once per file version (every kernel pass
    asks again for the same library)."""
    stat = path.stat()
    return _content_id(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _content_id(path: str, _mtime_ns: int, _size: int) -> str:
    h = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return f"lutnas-{h}"


def _has_function(remote: Any, name: str) -> bool:
    try:
        remote.get_function(name)
    except Exception:  # noqa: BLE001 -- TVM raises its own error types for a missing remote function
        return False
    return True
