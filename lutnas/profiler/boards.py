"""Boards you can start on this machine: an emulated aarch64 board and plain local TVM RPC servers.

Both serve Apache TVM's own RPC server (`python -m tvm.exec.rpc_server`), optionally registered with
TVM's own tracker (`python -m tvm.exec.rpc_tracker`), on 127.0.0.1 only.

- `arm64`: an arm64 Debian bookworm rootfs holding only a Python runtime: the arm64 .debs of
  python3.11-minimal, libpython3.11-stdlib, libstdc++6 and base-files with their dependency closure,
  resolved and fetched by the host's apt (private state) and unpacked without maintainer scripts;
  TVM's aarch64 wheels installed into a venv in it by the host's pip (`--platform manylinux_*_aarch64`);
  the RPC server started in the chroot under qemu-user (binfmt_misc) with nothing but a fixed
  environment, runtime-only (`TVM_USE_RUNTIME_LIB=1`). Nothing is installed under emulation.
  Every instruction runs under qemu-user, 16-70x slower than real ARM hardware: whatever is
  measured there is `emulated` and says nothing about ARM latency. The build is cached in stages
  (stamp files) under `boards_dir()/arm64`, so the second `up` only mounts and starts the server.
- `x86`: the host venv's TVM RPC server, for tests and a local device-farm demo.

A running board is a state file in `boards_dir()/run/` (pid of its process group, port, kind), so
`down` and `status` work from another process; `down` stops the process group and unmounts the
chroot's proc/sys/dev binds when no arm64 server is left.
"""

from __future__ import annotations

import importlib.util
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
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# The board's Python runtime; apt adds the dependency closure (libc6, libssl3, libffi8, ...: ~40 .debs).
RUNTIME_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6", "base-files")
PYTHON_VERSION = "3.11"  # bookworm's CPython, which the wheels are chosen for
GLIBC_MINOR = 36  # bookworm's glibc 2.36: the newest manylinux_2_X wheel tag the board can load
WHEELS = ("apache-tvm==0.27.0.post1", "apache-tvm-ffi==0.1.14.post0", "numpy", "psutil", "cloudpickle")
VENV_DIR = "opt/tvm"
CHROOT_PY = "/opt/tvm/bin/python"
CHROOT_PATH = "/opt/tvm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = {"qemu-aarch64-static": "qemu-user-static", "update-binfmts": "binfmt-support", "apt-get": "apt",
         "dpkg-deb": "dpkg", "tar": "tar", "chroot": "coreutils"}
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


def _server_tmp(name: str) -> Path:
    """The x86 server's TMPDIR: TVM's RPC server unpacks uploads into temporary folders it removes only
    at a clean exit, and a board is stopped by a signal; `stop_board` removes this folder instead."""
    return _run_dir() / f"{name}.tmp"


# ---- building the arm64 rootfs ------------------------------------------------------------------

# The current build's stages (stamp files). A board cached by the former build (debootstrap stages 1
# and 2, then pip under qemu: stamps foreign, second-stage, wheels) has the same venv and server entry
# point, so it is used as it is; an unfinished one of either kind is removed and built again.
_STAGES = ("runtime-debs", "host-wheels")
_LEGACY_STAGES = ("foreign", "second-stage", "wheels")


def _stamp(stage: str) -> Path:
    return boards_dir() / "arm64" / f".{stage}.done"


def _stages_done(stages: tuple[str, ...]) -> bool:
    return all(_stamp(s).is_file() for s in stages)


def arm64_ready() -> tuple[bool, str]:
    """(built, why not): whether the cached rootfs has every stage done."""
    if _stages_done(_STAGES) or _stages_done(_LEGACY_STAGES):
        return True, ""
    missing = [s for s in _STAGES if not _stamp(s).is_file()]
    return False, (f"arm64 board not built (missing stage(s): {', '.join(missing)}; "
                   "run `lutnas board build arm64`)")


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise BoardError(f"{what} needs root (chroot, mount, binfmt_misc, files owned by root); run as root")


def _require_tools() -> None:
    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if not DEBIAN_KEYRING.is_file():
        missing.append(f"{DEBIAN_KEYRING} (Debian package debian-archive-keyring)")
    if importlib.util.find_spec("pip") is None:
        missing.append(f"pip for {sys.executable}")
    if missing:
        raise BoardError(f"missing: {', '.join(missing)}; "
                         "apt-get install qemu-user-static binfmt-support debian-archive-keyring")


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


def _sh(cmd: list[str], what: str, log: Path | None = None, env: dict[str, str] | None = None) -> None:
    if shutil.which(cmd[0]) is None:
        pkg = TOOLS.get(cmd[0], "")
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
    """Build (or finish building) the cached arm64 rootfs; returns {"seconds", "bytes", "built"}.

    Nothing is installed under emulation: the host's apt resolves and fetches the arm64 .debs of
    the Python runtime, which are unpacked as they are, and the host's pip installs TVM's aarch64
    wheels into the chroot's venv. qemu runs only the final check that the chroot imports tvm.rpc."""
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
    if not _stamp("runtime-debs").is_file():
        progress(f"arm64 .debs of {', '.join(RUNTIME_PACKAGES)} and their dependencies (apt, unpacked)")
        _fresh_rootfs(root)
        apt_dir = root.parent / "apt"
        _unpack_debs(root, _fetch_debs(apt_dir, log))
        shutil.rmtree(apt_dir)
        _configure_rootfs(root)
        _stamp("runtime-debs").touch()
        progress(f"rootfs unpacked ({time.time() - t0:.0f} s)")
    _install_qemu(root)
    if not _stamp("host-wheels").is_file():
        progress("pip install " + " ".join(WHEELS) + " (aarch64 wheels, with this host's pip)")
        _install_wheels(root, log)
        progress(f"wheels installed ({time.time() - t0:.0f} s); importing tvm.rpc in the chroot (under qemu)")
        with mounted(root):
            _chroot(root, [CHROOT_PY, "-c", "import tvm, tvm.rpc; print(tvm.__version__)"],
                    "importing tvm in the chroot", log, {"TVM_USE_RUNTIME_LIB": "1"})
        _stamp("host-wheels").touch()
    return {"seconds": time.time() - t0, "bytes": _du(root), "built": True}


def _fresh_rootfs(root: Path) -> None:
    """An empty merged-/usr root. An unfinished rootfs (this build's or the former debootstrap one's) is
    removed rather than patched, but never while anything is mounted inside it (its dev is /dev)."""
    for stage in (*_STAGES, *_LEGACY_STAGES):
        _stamp(stage).unlink(missing_ok=True)
    if root.exists():
        unmount_chroot(root)
        left = sorted(p for p in _mounted_paths() if p == str(root) or p.startswith(f"{root}/"))
        if left:
            raise BoardError(f"cannot rebuild {root}: still mounted: {', '.join(left)}")
        shutil.rmtree(root)
    for name in ("bin", "sbin", "lib"):
        (root / "usr" / name).mkdir(parents=True)
        (root / name).symlink_to(f"usr/{name}")


def _fetch_debs(apt_dir: Path, log: Path) -> list[Path]:
    """apt resolves RUNTIME_PACKAGES' dependency closure for arm64 and downloads it (signatures checked
    against Debian's keyring), with its own configuration and state: the host's are not read or changed."""
    env = {**os.environ, "APT_CONFIG": str(_apt_config(apt_dir)), "DEBIAN_FRONTEND": "noninteractive"}
    _sh(["apt-get", "-q", "update"], "apt-get update (arm64 package lists)", log, env)
    _sh(["apt-get", "-q", "-y", "--download-only", "install", *RUNTIME_PACKAGES],
        "downloading the arm64 .debs", log, env)
    debs = sorted((apt_dir / "archives").glob("*.deb"))
    if not debs:
        raise BoardError(f"apt downloaded no .deb for {', '.join(RUNTIME_PACKAGES)} (see {log})")
    return debs


def _apt_config(apt_dir: Path) -> Path:
    shutil.rmtree(apt_dir, ignore_errors=True)
    for sub in ("etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d", "etc/trusted.gpg.d",
                "lists/partial", "archives/partial", "log"):
        (apt_dir / sub).mkdir(parents=True)
    (apt_dir / "status").write_text("")  # nothing installed: apt fetches the whole closure
    source = f"deb [arch=arm64 signed-by={DEBIAN_KEYRING}] {MIRROR} {SUITE} main\n"
    (apt_dir / "etc/sources.list").write_text(source)
    settings = {"Dir::Etc": apt_dir / "etc", "Dir::State": apt_dir, "Dir::State::status": apt_dir / "status",
                "Dir::Cache": apt_dir, "Dir::Log": apt_dir / "log", "APT::Architecture": "arm64",
                "APT::Architectures::": "arm64", "APT::Install-Recommends": "false",
                "Acquire::Languages": "none", "APT::Sandbox::User": "root", "Debug::NoLocking": "true"}
    conf = apt_dir / "apt.conf"
    conf.write_text("".join(f'{key} "{value}";\n' for key, value in settings.items()))
    return conf


def _unpack_debs(root: Path, debs: list[Path]) -> None:
    """Each package's files where dpkg would put them (directory symlinks of merged /usr kept), without
    its maintainer scripts, each of which would be another program under emulation. What they would do
    that matters here, _configure_rootfs does; no ld.so.cache is needed, the loader's default
    directories (/usr/lib/aarch64-linux-gnu) hold every library."""
    for deb in debs:
        src = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "--keep-directory-symlink", "-C", str(root)], stdin=src.stdout,
                             capture_output=True, check=False)
        src.stdout.close()
        if src.wait() != 0 or tar.returncode != 0:
            why = tar.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {src.returncode}"]
            raise BoardError(f"unpacking {deb.name} into {root} failed: {why[0][:200]}")


def _configure_rootfs(root: Path) -> None:
    """What the skipped maintainer scripts would have left that the server uses: mount points, a
    writable /tmp, users root and nobody, /etc/os-release (the board reports its OS from it) and the
    standard library's .pyc files."""
    for name, mode in (("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700), ("proc", 0o555), ("sys", 0o555),
                       ("dev", 0o755)):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name).chmod(mode)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    os_release = root / "etc/os-release"
    if not os_release.exists() and not os_release.is_symlink():
        os_release.symlink_to("../usr/lib/os-release")
    _byte_compile(root, root / "usr/lib" / f"python{PYTHON_VERSION}")


def _byte_compile(root: Path, tree: Path) -> None:
    """.pyc files written by this host's CPython when it has the chroot's minor version (same format;
    the importer rechecks each against its source): otherwise the board's first start would compile
    the standard library under qemu. With another host version the board compiles them itself."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        return
    import compileall

    compileall.compile_dir(str(tree), quiet=2, workers=os.cpu_count() or 1, stripdir=str(root),
                           prependdir="/")


def _install_wheels(root: Path, log: Path) -> None:
    """TVM's aarch64 wheels, resolved and installed by the host's pip for CPython PYTHON_VERSION on
    manylinux aarch64 up to the rootfs' glibc, into a venv laid out as `python -m venv` makes it."""
    venv = root / VENV_DIR
    shutil.rmtree(venv, ignore_errors=True)
    site = venv / "lib" / f"python{PYTHON_VERSION}" / "site-packages"
    site.mkdir(parents=True)
    platforms = [f"--platform=manylinux_2_{minor}_aarch64" for minor in range(GLIBC_MINOR, 16, -1)]
    same_python = f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION
    _sh([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--only-binary=:all:",
         "--implementation=cp", f"--python-version={PYTHON_VERSION}", *platforms,
         "--platform=manylinux2014_aarch64", f"--target={site}", *([] if same_python else ["--no-compile"]),
         *WHEELS], "pip install of the aarch64 wheels", log)
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts naming the host's interpreter
    (venv / "bin").mkdir()
    (venv / "bin/python").symlink_to(f"/usr/bin/python{PYTHON_VERSION}")
    (venv / "bin/python3").symlink_to("python")
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\ninclude-system-site-packages = false\n"
                                     f"version = {PYTHON_VERSION}\n")


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


def _chroot_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a process in the chroot (nothing of the host's leaks in)."""
    return {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(extra_env or {})}


def _chroot_cmd(root: Path, cmd: list[str]) -> list[str]:
    return [shutil.which("chroot") or "chroot", str(root), *cmd]


def _chroot(root: Path, cmd: list[str], what: str, log: Path,
            extra_env: dict[str, str] | None = None) -> None:
    _sh(_chroot_cmd(root, cmd), what, log, _chroot_env(extra_env))


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


# Modules the board's server never uses but TVM imports when present, each costing seconds per Python
# under qemu: TVM's FFI and tensors import ml_dtypes (bfloat16 / float8 NumPy types) if they can, and
# loading its extension took 7 of the 10 s `import tvm` takes on the board, twice per start (the server
# and TVM's popen worker are two Pythons). The board runs float32 libraries, so its Pythons get a
# package of that name on PYTHONPATH that refuses to import, and TVM goes on without it.
HIDDEN_MODULES = ("ml_dtypes",)
HIDDEN_DIR = "opt/lutnas-hidden"


def hide_modules(root: Path) -> str:
    """Write the refusing packages of `HIDDEN_MODULES` into the rootfs; returns their chroot path."""
    for name in HIDDEN_MODULES:
        package = root / HIDDEN_DIR / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            f"raise ImportError('{name} is hidden on the lutnas arm64 board (slow under qemu, unused)')\n")
    return f"/{HIDDEN_DIR}"


BOARD_HOOKS = Path(__file__).with_name("board_hooks.py")   # the board's server (in-model kernel timing)


def server_args(port: int, tracker: str | None, key: str | None, hooks: str = str(BOARD_HOOKS)) -> list[str]:
    """TVM's RPC server as `hooks` runs it: with lutnas's board functions registered in the server's
    worker before it serves (`board_hooks`); the directory of `hooks` must be on PYTHONPATH."""
    args = [hooks, "--host", "127.0.0.1", "--port", str(port), "--port-end", str(port + 1)]
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
        env_extra["PYTHONPATH"] = hide_modules(rootfs_dir())
        shutil.copyfile(BOARD_HOOKS, rootfs_dir() / HIDDEN_DIR / BOARD_HOOKS.name)
        hooks = f"/{HIDDEN_DIR}/{BOARD_HOOKS.name}"
    else:
        hooks_dir = _run_dir() / "hooks"     # only the hooks on the server's path, not all of lutnas.profiler
        hooks_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BOARD_HOOKS, hooks_dir / BOARD_HOOKS.name)
        hooks = str(hooks_dir / BOARD_HOOKS.name)
        env_extra["PYTHONPATH"] = os.pathsep.join(p for p in (str(hooks_dir), os.environ.get("PYTHONPATH")) if p)
    launched = []
    for port in ports:
        name = f"{kind}-{port}"
        if kind == "arm64":
            cmd = _chroot_cmd(rootfs_dir(), [CHROOT_PY, *server_args(port, tracker, key, hooks)])
            env = _chroot_env(env_extra)
        else:
            cmd = [sys.executable, *server_args(port, tracker, key, hooks)]
            _server_tmp(name).mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **env_extra, "TMPDIR": str(_server_tmp(name))}
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
    shutil.rmtree(_server_tmp(name), ignore_errors=True)
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
