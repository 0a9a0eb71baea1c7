"""Boards you can start on this machine: an emulated aarch64 board and plain local TVM RPC servers.

Both serve Apache TVM's own RPC server (`python -m tvm.exec.rpc_server`), optionally registered with
TVM's own tracker (`python -m tvm.exec.rpc_tracker`), on 127.0.0.1 only.

- `arm64`: an arm64 Debian bookworm rootfs made with `debootstrap --arch=arm64 --foreign` (second
  stage run under qemu-user through binfmt_misc), TVM's aarch64 wheels pip-installed in a venv inside
  it, and the RPC server started in the chroot under `env -i`, runtime-only (`TVM_USE_RUNTIME_LIB=1`).
  Every instruction runs under qemu-user, 16-70x slower than real ARM hardware: whatever is
  measured there is `emulated` and says nothing about ARM latency. The build is cached in stages
  (stamp files) under `boards_dir()/arm64`, so the second `up` only mounts and starts the server.
- `x86`: the host venv's TVM RPC server, for tests and a local device-farm demo.

A running board is a state file in `boards_dir()/run/` (pid of its process group, port, kind), so
`down` and `status` work from another process; `down` stops the process group and unmounts the
chroot's proc/sys/dev binds when no arm64 server is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lutnas.errors import DeviceError, LutnasError

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
CHROOT_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates", "libstdc++6")
WHEELS = ("apache-tvm==0.27.0.post1", "apache-tvm-ffi==0.1.14.post0", "numpy", "psutil", "cloudpickle")
CHROOT_PY = "/opt/tvm/bin/python"
CHROOT_PATH = "/opt/tvm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MOUNTS = (("proc", ["-t", "proc", "proc"]), ("sys", ["-t", "sysfs", "sysfs"]), ("dev", ["--rbind", "/dev"]))
BOARD_KINDS = ("arm64", "x86")
START_TIMEOUT_S = {"arm64": 240.0, "x86": 60.0}


class BoardError(LutnasError):
    """A board could not be built, started or stopped; the message names what is missing."""


@dataclass(frozen=True)
class BoardState:
    name: str
    kind: str
    host: str
    port: int
    pid: int  # leader of the board's process group
    tracker: str | None
    key: str | None
    emulated: bool
    log: str
    started_at: float

    def address(self) -> str:
        return f"{self.host}:{self.port}"


def boards_dir() -> Path:
    """LUTNAS_BOARDS_DIR, else LUTNAS_CACHE/boards, else ~/.cache/lutnas/boards."""
    if os.environ.get("LUTNAS_BOARDS_DIR"):
        return Path(os.environ["LUTNAS_BOARDS_DIR"])
    from lutnas.paths import cache_dir

    return cache_dir("boards")


def rootfs_dir() -> Path:
    return boards_dir() / "arm64" / "rootfs"


def _run_dir() -> Path:
    path = boards_dir() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---- building the arm64 rootfs ------------------------------------------------------------------

_STAGES = ("foreign", "second-stage", "wheels")


def _stamp(stage: str) -> Path:
    return boards_dir() / "arm64" / f".{stage}.done"


def arm64_ready() -> tuple[bool, str]:
    """(built, why not): whether the cached rootfs has every stage done."""
    missing = [s for s in _STAGES if not _stamp(s).is_file()]
    if missing:
        return False, f"arm64 board not built (missing stage(s): {', '.join(missing)}; run `lutnas board build arm64`)"
    return True, ""


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise BoardError(f"{what} needs root (debootstrap, chroot and mount); run as root")


def _require_tools() -> None:
    tools = {"debootstrap": "debootstrap", "qemu-aarch64-static": "qemu-user-static",
             "update-binfmts": "binfmt-support"}
    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in tools.items() if shutil.which(tool) is None]
    if missing:
        raise BoardError(f"missing: {', '.join(missing)}; apt-get install qemu-user-static binfmt-support debootstrap")


def _require_network(host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as err:
        raise BoardError(f"no network: cannot reach {host}:{port} ({err.strerror or err}), "
                         "needed once to build the arm64 board") from None


def enable_binfmt() -> None:
    """Mount binfmt_misc and enable qemu-aarch64 (idempotent)."""
    mnt = Path("/proc/sys/fs/binfmt_misc")
    if not (mnt / "status").exists():
        _sh(["mount", "-t", "binfmt_misc", "binfmt_misc", str(mnt)], "mounting binfmt_misc")
    if not (mnt / "qemu-aarch64").exists():
        _sh(["update-binfmts", "--enable", "qemu-aarch64"], "enabling the qemu-aarch64 binfmt handler")
    if not (mnt / "qemu-aarch64").exists():
        raise BoardError("missing: the qemu-aarch64 binfmt handler (Debian package qemu-user-static)")


def _sh(cmd: list[str], what: str, log: Path | None = None, env: dict | None = None) -> None:
    if shutil.which(cmd[0]) is None:
        pkg = {"update-binfmts": "binfmt-support", "debootstrap": "debootstrap"}.get(cmd[0], "")
        raise BoardError(f"missing: {cmd[0]}{f' (Debian package {pkg})' if pkg else ''}, needed for {what}")
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 -- closed below
    try:
        proc = subprocess.run(cmd, check=False, stdout=out, stderr=subprocess.STDOUT if log else subprocess.PIPE, env=env)
    finally:
        if log:
            out.close()
    if proc.returncode != 0:
        tail = _tail(log) if log else (proc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        raise BoardError(f"{what} failed (exit {proc.returncode}): {' '.join(tail)[:300]}")


def _tail(path: Path, n: int = 1) -> list[str]:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return []
    return lines[-n:]


def build_arm64(progress=print) -> dict:
    """Build (or finish building) the cached arm64 rootfs; returns {"seconds", "bytes", "built"}."""
    ready, _ = arm64_ready()
    if ready:
        return {"seconds": 0.0, "bytes": _du(rootfs_dir()), "built": False}
    _require_root("building the arm64 board")
    _require_tools()
    enable_binfmt()
    _require_network("deb.debian.org", 80)
    _require_network("pypi.org", 443)
    root, log = rootfs_dir(), boards_dir() / "arm64" / "build.log"
    root.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not _stamp("foreign").is_file():
        progress("debootstrap stage 1 (arm64 packages, foreign)")
        _sh(["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase",
             f"--include={','.join(CHROOT_PACKAGES)}", SUITE, str(root), MIRROR], "debootstrap --foreign", log)
        _stamp("foreign").touch()
    _install_qemu(root)
    if not _stamp("second-stage").is_file():
        progress("debootstrap stage 2 (under qemu-aarch64)")
        _sh(["chroot", str(root), "/debootstrap/debootstrap", "--second-stage"], "debootstrap --second-stage", log)
        _stamp("second-stage").touch()
    if not _stamp("wheels").is_file():
        progress("pip install " + " ".join(WHEELS) + " (aarch64 wheels, under qemu)")
        _copy_host_files(root)
        with mounted(root):
            _chroot(root, ["/usr/bin/python3", "-m", "venv", "/opt/tvm"], "creating the chroot venv", log)
            _chroot(root, [CHROOT_PY, "-m", "pip", "install", "-q", "--no-cache-dir", *WHEELS],
                    "pip install in the chroot", log)
            _chroot(root, [CHROOT_PY, "-c", "import tvm, tvm.rpc; print(tvm.__version__)"],
                    "importing tvm in the chroot", log)
        _stamp("wheels").touch()
    return {"seconds": time.time() - t0, "bytes": _du(root), "built": True}


def _install_qemu(root: Path) -> None:
    """binfmt's P flag resolves the interpreter inside the chroot: put qemu where the kernel looks."""
    src = Path("/usr/bin/qemu-aarch64-static")
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    dst = root / "usr/bin/qemu-aarch64-static"
    if not dst.exists():
        shutil.copy2(src, dst)
    link = root / "usr/libexec/qemu-binfmt/aarch64-binfmt-P"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("../../bin/qemu-aarch64-static")


def _copy_host_files(root: Path) -> None:
    for rel in ("etc/resolv.conf", "etc/ssl/certs/ca-certificates.crt"):
        src = Path("/") / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).unlink(missing_ok=True)
            shutil.copy2(src, root / rel)


def _chroot_cmd(root: Path, cmd: list[str], extra_env: dict[str, str] | None = None) -> list[str]:
    env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8",
           "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", **(extra_env or {})}
    return ["chroot", str(root), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), *cmd]


def _chroot(root: Path, cmd: list[str], what: str, log: Path) -> None:
    _sh(_chroot_cmd(root, cmd), what, log)


def _du(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path, followlinks=False):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


# ---- mounts -------------------------------------------------------------------------------------


def _mounted_paths() -> set[str]:
    with open("/proc/mounts") as fh:
        return {line.split()[1] for line in fh}


def mount_chroot(root: Path) -> None:
    have = _mounted_paths()
    for name, args in MOUNTS:
        target = root / name
        target.mkdir(exist_ok=True)
        if str(target) not in have:
            _sh(["mount", *args, str(target)], f"mounting {name} in the chroot")
            if name == "dev":
                subprocess.run(["mount", "--make-rslave", str(target)], check=False)


def unmount_chroot(root: Path) -> list[str]:
    """Unmount the chroot's binds (submounts first); returns what could not be unmounted."""
    left = []
    for name, _ in reversed(MOUNTS):
        target = str(root / name)
        for path in sorted((p for p in _mounted_paths() if p == target or p.startswith(target + "/")),
                           key=len, reverse=True):
            if _umount(path) and _umount(path, "-l"):
                left.append(path)
    return left


def _umount(path: str, *flags: str) -> int:
    return subprocess.run(["umount", *flags, path], check=False, capture_output=True).returncode


class mounted:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> Path:
        mount_chroot(self.root)
        return self.root

    def __exit__(self, *exc: object) -> None:
        if not any(s.kind == "arm64" for s in running_boards()):
            unmount_chroot(self.root)


# ---- servers ------------------------------------------------------------------------------------


def server_args(port: int, tracker: str | None, key: str | None) -> list[str]:
    args = ["-m", "tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(port), "--port-end", str(port + 1)]
    if tracker:
        args += ["--tracker", tracker, "--key", key or "default"]
    return args


def start_board(kind: str, port: int = 9090, tracker: str | None = None, key: str | None = None,
                threads: int = 1, timeout_s: float | None = None) -> BoardState:
    """Start one board's RPC server on 127.0.0.1:`port`; returns once it accepts connections."""
    return start_boards(kind, [port], tracker, key, threads, timeout_s)[0]


def start_boards(kind: str, ports: list[int], tracker: str | None = None, key: str | None = None,
                 threads: int = 1, timeout_s: float | None = None) -> list[BoardState]:
    """Start one RPC server per port (all launched first, then waited for); stops them all on failure."""
    if kind not in BOARD_KINDS:
        raise BoardError(f"unknown board kind {kind!r}; valid: {', '.join(BOARD_KINDS)}")
    if tracker and not key:
        raise BoardError("--tracker needs --key (the device key the board registers under)")
    busy = [str(p) for p in ports if _port_open(p)]
    if busy:
        raise BoardError(f"port(s) {', '.join(busy)} on 127.0.0.1 already in use; pick another --port")
    env_extra = {"TVM_NUM_THREADS": str(threads), "TVM_USE_RUNTIME_LIB": "1"}
    if kind == "arm64":
        if not arm64_ready()[0]:
            build_arm64()
        _require_root("starting the arm64 board")
        enable_binfmt()
        mount_chroot(rootfs_dir())
    launched = []
    for port in ports:
        if kind == "arm64":
            cmd = _chroot_cmd(rootfs_dir(), [CHROOT_PY, *server_args(port, tracker, key)], env_extra)
            env = None
        else:
            cmd = [sys.executable, *server_args(port, tracker, key)]
            env = {**os.environ, **env_extra}
        name = f"{kind}-{port}"
        log = _run_dir() / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
        state = BoardState(name, kind, "127.0.0.1", port, proc.pid, tracker, key, kind == "arm64", str(log),
                           time.time())
        _state_path(name).write_text(json.dumps(asdict(state), indent=2) + "\n")
        launched.append((state, proc))
    limit = timeout_s or START_TIMEOUT_S[kind]
    try:
        for state, proc in launched:
            _wait_listening(state, proc, time.time() + limit, f"{kind} board")
    except BoardError:
        for state, _ in launched:
            stop_board(state.name)
        raise
    return [state for state, _ in launched]


def _wait_listening(state: BoardState, proc: subprocess.Popen, deadline: float, what: str) -> None:
    while time.time() < deadline:
        if proc.poll() is not None:
            raise BoardError(f"{what} on port {state.port} exited ({proc.returncode}): "
                             f"{' '.join(_tail(Path(state.log)))[:300]}")
        if _port_open(state.port):
            return
        time.sleep(0.2)
    raise BoardError(f"{what} on port {state.port} did not start listening in time (log: {state.log})")


def wait_registered(tracker: str, key: str, count: int, timeout_s: float = 60.0) -> int:
    """Wait until TVM's tracker at HOST:PORT lists `count` servers under `key`; returns how many it lists."""
    import tvm.rpc

    host, _, port = tracker.rpartition(":")
    deadline, seen = time.time() + timeout_s, 0
    while time.time() < deadline:
        servers = tvm.rpc.connect_tracker(host, int(port)).summary().get("server_info", [])
        seen = sum(1 for s in servers if s.get("key") == f"server:{key}")
        if seen >= count:
            return seen
        time.sleep(0.3)
    raise BoardError(f"tracker {tracker} lists {seen} board(s) under key {key!r}, expected {count}")


def free_port() -> int:
    """A free 127.0.0.1 port whose successor is free too (TVM servers search [port, port-end))."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not _port_open(port) and not _port_open(port + 1):
            return port
    raise BoardError("no free port pair on 127.0.0.1")


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _state_path(name: str) -> Path:
    return _run_dir() / f"{name}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def running_boards() -> list[BoardState]:
    out = []
    for path in sorted(_run_dir().glob("*.json")):
        try:
            out.append(BoardState(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return out


def board_status() -> list[dict]:
    return [{**asdict(s), "alive": _alive(s.pid), "listening": _port_open(s.port)} for s in running_boards()]


def stop_board(name: str, grace_s: float = 5.0) -> BoardState | None:
    """Stop one board (SIGTERM to its process group, then SIGKILL) and forget it."""
    path = _state_path(name)
    if not path.is_file():
        return None
    state = BoardState(**json.loads(path.read_text()))
    _kill_group(state.pid, grace_s)
    path.unlink(missing_ok=True)
    Path(state.log).unlink(missing_ok=True)
    if state.kind == "arm64" and not any(s.kind == "arm64" for s in running_boards()):
        left = unmount_chroot(rootfs_dir())
        if left:
            raise BoardError(f"board {name} stopped but could not unmount: {', '.join(left)}")
    return state


def stop_all() -> list[str]:
    return [s.name for s in running_boards() if stop_board(s.name) is not None]


def _kill_group(pid: int, grace_s: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        except PermissionError as err:
            raise DeviceError(f"cannot stop board process group {pid}: {err}") from None
        deadline = time.time() + wait
        while time.time() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if not _group_alive(pid):
            break
    _reap(pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    for entry in Path("/proc").iterdir():  # zombies keep the group "alive" for killpg(0)
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().split(")")[-1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# ---- tracker ------------------------------------------------------------------------------------


def start_tracker(port: int = 9190, timeout_s: float = 30.0) -> BoardState:
    """TVM's own RPC tracker on 127.0.0.1:`port`, kept as a board state named `tracker-PORT`."""
    name = f"tracker-{port}"
    if _port_open(port):
        raise BoardError(f"port 127.0.0.1:{port} is already in use; pick another --port")
    log = _run_dir() / f"{name}.log"
    cmd = [sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port),
           "--port-end", str(port + 1)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    state = BoardState(name, "tracker", "127.0.0.1", port, proc.pid, None, None, False, str(log), time.time())
    _state_path(name).write_text(json.dumps(asdict(state), indent=2) + "\n")
    try:
        _wait_listening(state, proc, time.time() + timeout_s, "tracker")
    except BoardError:
        stop_board(name)
        raise
    return state
