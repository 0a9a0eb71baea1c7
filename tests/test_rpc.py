"""Remote runners against real TVM RPC servers and TVM's own tracker, all on 127.0.0.1.

The servers are `python -m tvm.exec.rpc_server` processes started by `lutnas.profiler.boards`; every
fixture stops what it started (process groups), so no server outlives the module.
"""

from __future__ import annotations

import os

os.environ.setdefault("TVM_NUM_THREADS", "1")

from pathlib import Path

import pytest

from lutnas.errors import DeviceError, LutnasError
from lutnas.profiler import boards
from lutnas.profiler.boards import free_port
from lutnas.profiler.measurement import MeasureJob
from lutnas.profiler.rounds import measure_interleaved
from lutnas.profiler.rpc import RPCRunner, TrackerRunner, arm_cpu_name, parse_address

SHAPE = (1, 3, 16, 16)


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("boards")
    old = os.environ.get("LUTNAS_BOARDS_DIR")
    os.environ["LUTNAS_BOARDS_DIR"] = str(path)
    yield path
    boards.stop_all()
    if old is None:
        os.environ.pop("LUTNAS_BOARDS_DIR", None)
    else:
        os.environ["LUTNAS_BOARDS_DIR"] = old


@pytest.fixture(scope="module")
def tiny_lib(tmp_path_factory) -> Path:
    import torch

    from lutnas.lowering.onnx_io import export_onnx
    from lutnas.lowering.targets import get_target
    from lutnas.lowering.tvm_build import build

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)).eval()
    d = tmp_path_factory.mktemp("lib")
    onnx = export_onnx(net, SHAPE, d / "tiny.onnx")
    return build(onnx, SHAPE, get_target("x86")).export_library(d / "tiny.so")


@pytest.fixture(scope="module")
def farm(board_dir):
    """TVM's tracker plus two x86 RPC servers registered under one key."""
    tracker = boards.start_tracker(free_port())
    ports = [free_port(), free_port()]
    while ports[1] in (ports[0], ports[0] + 1):
        ports[1] = free_port()
    servers = boards.start_boards("x86", ports, tracker=tracker.address(), key="farm")
    boards.wait_registered(tracker.address(), "farm", 2)
    yield tracker, servers
    for s in [*servers, tracker]:
        boards.stop_board(s.name)


def _job(lib: Path, key: str, repeats: int = 3, min_ms: float = 5.0) -> MeasureJob:
    return MeasureJob(key, SHAPE, library_path=lib, target="x86", repeats=repeats, min_repeat_ms=min_ms)


def test_parse_address_and_arm_names():
    assert parse_address("127.0.0.1:9090") == ("127.0.0.1", 9090)
    with pytest.raises(Exception, match="HOST:PORT"):
        parse_address("nohost")
    assert arm_cpu_name(0x410FD083) == "Cortex-A72 r0p3"
    assert arm_cpu_name(0x51AF8014) == "implementer 0x51 part 0x801 r10p4"


def test_rpc_runner_measures_and_names_a_lost_board(board_dir, tiny_lib):
    port = free_port()
    state = boards.start_board("x86", port)
    try:
        runner = RPCRunner("127.0.0.1", port, target="x86")
        m = runner.measure(_job(tiny_lib, "tiny"))
        assert m.n == 3 and m.median_ms > 0 and m.meta["board"] == f"127.0.0.1:{port}"
        fp = runner.describe()
        assert fp["emulated"] is False and fp["machine"] == "x86_64"
        assert fp["remote"]["cpu_type"] == "x86_64" and fp["remote"]["remote_threads"] == 1
        runner.close()
        two = RPCRunner("127.0.0.1", port, target="x86", threads=2)
        job2 = MeasureJob("two", SHAPE, library_path=tiny_lib, target="x86", threads=2, repeats=2)
        with pytest.raises(LutnasError, match="runs TVM with 1 thread.s. but 2 were asked; .*TVM_NUM_THREADS=2"):
            two.measure(job2)
        two.close()
        assert runner.measure(_job(tiny_lib, "again")).median_ms > 0  # a live session again ...
        # whole networks are timed interleaved on one board: cycles of one remote sample of every job
        passes = measure_interleaved(runner, [_job(tiny_lib, "a"), _job(tiny_lib, "b")], 3)
        assert [(m.key, m.n, m.meta["sample_rounds"]) for m in passes] == [("a", 3, [1, 2, 3]), ("b", 3, [1, 2, 3])]
        assert all(s > 0 for m in passes for s in m.samples_ms)
        uploads = board_dir / "run" / f"{state.name}.tmp"   # the server's TMPDIR, not the machine's
        assert any(uploads.iterdir())
        boards.stop_board(state.name)  # ... whose board dies, and whose uploads go with it
        assert not uploads.exists()
        with pytest.raises(DeviceError, match=f"RPC board 127.0.0.1:{port} lost while measuring 'after-kill'"):
            runner.measure(_job(tiny_lib, "after-kill"))
        with pytest.raises(DeviceError, match=f"cannot connect to RPC server 127.0.0.1:{port}"):
            RPCRunner("127.0.0.1", port, target="x86").measure(_job(tiny_lib, "nobody"))
    finally:
        boards.stop_board(state.name)


def test_a_sampler_whose_board_dies_names_it(board_dir, tiny_lib):
    """A job loaded and calibrated on a board for interleaved timing: a later sample on a dead board
    is one line naming the board and the job."""
    port = free_port()
    state = boards.start_board("x86", port)
    try:
        held = RPCRunner("127.0.0.1", port, target="x86").sampler(_job(tiny_lib, "held"))
        assert held.take(1)[0] > 0
        boards.stop_board(state.name)
        with pytest.raises(DeviceError, match=f"RPC board 127.0.0.1:{port} lost while measuring 'held'"):
            held.take(1)
    finally:
        boards.stop_board(state.name)


class _KillingTracker(TrackerRunner):
    """A TrackerRunner that stops one board (the one NOT reporting) mid-run, after `after` results
    have arrived from both boards."""

    def __init__(self, *args, servers, after: int, **kw):
        super().__init__(*args, **kw)
        self.servers, self.after, self.killed = servers, after, []

    def measure_many(self, jobs, on_result=None):
        seen, boards_seen = [], set()

        def wrapped(job, m):
            seen.append(job.key)
            boards_seen.add(m.meta["board"])
            if on_result is not None:
                on_result(job, m)
            # once both boards have delivered, stop the one that is busy right now
            if len(seen) >= self.after and len(boards_seen) == 2 and not self.killed:
                victim = next(s for s in self.servers if s.address() != m.meta["board"])
                boards.stop_board(victim.name)
                self.killed.append(victim.address())

        return super().measure_many(jobs, wrapped)


def test_tracker_spreads_a_profile_and_survives_a_killed_board(farm, tmp_path):
    """H1's profile_table over TVM's tracker with two boards; one is killed mid-run."""
    from lutnas.latency_tables.profile import ProfileSettings, profile_table
    from lutnas.latency_tables.store import Store
    from lutnas.profiler.stability import StabilityPolicy

    tracker, servers = farm
    host, port = parse_address(tracker.address())
    policy = StabilityPolicy(max_passes=1)  # one pass per entry: "present once" is then exact
    runner = _KillingTracker(host, port, "farm", target="x86", policy=policy, servers=servers, after=3,
                             request_timeout_s=60)
    # under load the tracker can list a board late (it re-registers): wait as the fixture does
    assert boards.wait_registered(tracker.address(), "farm", 2) == 2 and runner.boards() == 2
    n = 10
    db = tmp_path / "farm.db"
    settings = ProfileSettings(repeats=5, min_repeat_ms=20.0)
    r = profile_table("proxyless", 32, "x86", "tvm", db, runner=runner, policy=policy, settings=settings,
                      progress=False, limit=n, work_dir=tmp_path / "work")
    assert runner.killed, "the board was never killed"
    assert r.measured == n and r.passes == n
    with Store(db) as store:
        entries = {e.id: e.key for e in store.entries(r.table_id)}
        passes = store.passes(r.table_id)
    measured_keys = [entries[p.entry_id] for p in passes]
    assert len(measured_keys) == len(set(measured_keys)) == n  # every entry present exactly once
    assert all(p.pass_no == 1 for p in passes)
    ok = [row for row in runner.log if row["ok"]]
    assert len(ok) == n and {row["board"] for row in ok} == {s.address() for s in servers}  # work was spread
    failed = [row for row in runner.log if not row["ok"]]
    assert failed and failed[0]["board"] == runner.killed[0]  # the job in flight on the killed board ...
    redo = [row for row in ok if row["key"] == failed[0]["key"]]
    assert len(redo) == 1 and redo[0]["board"] != runner.killed[0]  # ... was measured once, elsewhere
    after = runner.log[runner.log.index(failed[0]):]
    assert all(row["board"] != runner.killed[0] for row in after if row["ok"])
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.network_context import measure_context

    table = open_table(db, r.table_id)   # a farm cannot interleave: said before anything is compiled
    try:
        with pytest.raises(LutnasError, match="TrackerRunner cannot hold one device .* --no-context"):
            measure_context(table, runner=runner, progress=False)
    finally:
        table.close()


def test_board_errors_name_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("LUTNAS_BOARDS_DIR", str(tmp_path / "empty"))
    assert not boards.arm64_ready()[0] and "lutnas board build arm64" in boards.arm64_ready()[1]
    monkeypatch.setattr(boards.os, "geteuid", lambda: 1000)
    with pytest.raises(boards.BoardError, match="needs root"):
        boards.build_arm64()
    monkeypatch.setattr(boards.shutil, "which", lambda tool: None)
    with pytest.raises(boards.BoardError, match="missing: qemu-aarch64-static .Debian package qemu-user-static"):
        boards._require_tools()
    port = free_port()
    with pytest.raises(boards.BoardError, match=f"no network: cannot reach 127.0.0.1:{port}"):
        boards._require_network("127.0.0.1", port)
    with pytest.raises(boards.BoardError, match="unknown board kind 'riscv'; valid: arm64, x86"):
        boards.start_board("riscv", port)
    with pytest.raises(boards.BoardError, match="--tracker needs --key"):
        boards.start_board("x86", port, tracker="127.0.0.1:1")


def test_arm64_stamps_accept_old_boards_and_rebuild_unfinished_ones(tmp_path, monkeypatch):
    """A finished board of either build (this one's or the former debootstrap one's) is used as it is;
    an unfinished one is removed, stamps included, and the build starts from an empty merged-/usr root."""
    monkeypatch.setenv("LUTNAS_BOARDS_DIR", str(tmp_path))
    arm, root = tmp_path / "arm64", boards.rootfs_dir()
    (root / "debootstrap").mkdir(parents=True)
    (root / "debootstrap" / "debootstrap.log").write_text("stage 2 interrupted")
    for stage in ("foreign", "second-stage"):
        (arm / f".{stage}.done").touch()
    ready, why = boards.arm64_ready()
    assert not ready and "missing stage(s): runtime-debs, host-wheels" in why
    (arm / ".wheels.done").touch()
    assert boards.arm64_ready() == (True, "")
    boards._fresh_rootfs(root)
    assert not boards.arm64_ready()[0] and not list(arm.glob(".*.done"))
    assert sorted(p.name for p in root.iterdir()) == ["bin", "lib", "sbin", "usr"]
    assert [os.readlink(root / d) for d in ("bin", "lib", "sbin")] == ["usr/bin", "usr/lib", "usr/sbin"]
    for stage in ("runtime-debs", "host-wheels"):
        (arm / f".{stage}.done").touch()
    assert boards.arm64_ready() == (True, "")


@pytest.mark.skipif(not Path("/usr/bin/apt-config").exists(), reason="needs apt (Debian or Ubuntu)")
def test_arm64_apt_is_private(tmp_path):
    """apt for the board reads only its own configuration: arm64 as the native architecture, its own
    state and status, none of the host's apt.conf.d (whose hooks would run on update)."""
    import subprocess

    conf = boards._apt_config(tmp_path / "apt")
    dump = subprocess.run(["apt-config", "dump"], env={**os.environ, "APT_CONFIG": str(conf)},
                          capture_output=True, text=True, check=True).stdout
    assert 'APT::Architecture "arm64";' in dump
    assert f'Dir::State::status "{tmp_path}/apt/status";' in dump
    assert f'Dir::Etc "{tmp_path}/apt/etc";' in dump
    host = subprocess.run(["apt-config", "dump"], capture_output=True, text=True, check=True).stdout
    hooks = [line for line in host.splitlines() if "Invoke" in line and line.split()[0].endswith("::")]
    assert not [line for line in hooks if line in dump]
    sources = (tmp_path / "apt" / "etc" / "sources.list").read_text()
    assert sources.startswith(f"deb [arch=arm64 signed-by={boards.DEBIAN_KEYRING}] ")
