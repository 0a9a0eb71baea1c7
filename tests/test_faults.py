"""Faults a careless user hit (issue 15): each one now ends in one clear line (or does the right thing).

Every test here drives the real CLI (a `python -m lutnas` subprocess or click's runner) with the
absurd or hostile input that used to give a traceback, a silent wrong result, or an orphaned process.
"""

from __future__ import annotations

import os

os.environ.setdefault("TVM_NUM_THREADS", "1")

import contextlib
import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO
from helpers import run_lutnas as lutnas


def one_line_error(proc: subprocess.CompletedProcess, *needles: str, code: int = 2) -> str:
    """Assert `proc` failed with exit `code` and one stderr line (besides warnings and the resolved
    `build: ...` line compiling commands print first) holding every needle."""
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith(("warning: ", "build: "))]
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    err = lines[0]
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# ---- an unexpected exception is reported as a bug, with its traceback kept ----------------------

BUGGY = ("import sys\nfrom lutnas.cli import cli, main\n"
         "@cli.command('boom')\ndef boom():\n    {}.get('x')['y']\n"
         "main(sys.argv[1:])\n")


CLI = "import sys\nfrom lutnas.cli import main\nmain(sys.argv[1:])\n"


def run_python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -c code args` from the repository root, with `env` added to this environment."""
    return subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **env}, timeout=120)


def test_unexpected_exception_is_one_line_naming_a_bug(tmp_path):
    proc = run_python(BUGGY, "boom", TMPDIR=str(tmp_path), LUTNAS_DEBUG="0")
    line = one_line_error(proc, "internal error: TypeError", "bug in lutnas", code=70)
    saved = Path(line.rsplit(" ", 1)[-1])
    assert saved.parent == tmp_path and "Traceback" in saved.read_text() and "boom" in saved.read_text()
    debug = run_python(BUGGY, "boom", TMPDIR=str(tmp_path), LUTNAS_DEBUG="1")
    assert debug.returncode == 70 and "Traceback" in debug.stderr and "traceback above" in debug.stderr


# ---- LUTNAS_CACHE that is not a directory ------------------------------------------------------

@pytest.mark.parametrize("args", [("board", "status"),
                                  ("profile", "--space", "proxyless", "-r", "32", "--compile-only", "--limit", "1")])
def test_cache_root_that_is_a_file_is_one_line(tmp_path, args):
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a directory")
    extra = ("--db", str(tmp_path / "t.db")) if args[0] == "profile" else ()
    for root, needle in ((blocker, "is a file, not a directory"), (blocker / "sub", "cannot create")):
        proc = run_python(CLI, *args, *extra, LUTNAS_CACHE=str(root))
        one_line_error(proc, f"LUTNAS_CACHE={root}", needle)


def test_cache_root_resolves_in_one_place(tmp_path, monkeypatch):
    from lutnas.latency_tables.jobs import default_network_dir, work_dir_for
    from lutnas.latency_tables.tuned import default_tuning_root
    from lutnas.profiler.boards import boards_dir
    from lutnas.profiler.workers import default_cache_dir

    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path / "c"))
    monkeypatch.delenv("LUTNAS_BOARDS_DIR", raising=False)
    found = [default_cache_dir(), work_dir_for(tmp_path / "t.db"), default_tuning_root(), boards_dir(),
             default_network_dir()]
    assert [p.name for p in found] == ["libs", "blocks", "tuning", "boards", "networks"]
    assert all(p.parent == tmp_path / "c" and p.is_dir() for p in found)


# ---- zero, negative and absurd option values ---------------------------------------------------

ABSURD = [
    ("spaces", "show", "proxyless", "-r", "0"),
    ("lower", "--arch", "a.json", "--target", "x86", "--out", "o", "-r", "0"),
    ("export", "--arch", "a.json", "--target", "x86", "--out", "o", "--resolution", "-32"),
    ("profile", "--space", "proxyless", "-r", "0", "--db", "t.db"),
    ("profile", "--space", "proxyless", "-r", "32", "--db", "t.db", "--threads", "0"),
    ("profile", "--space", "proxyless", "-r", "32", "--db", "t.db", "--workers", "0"),
    ("profile", "--space", "proxyless", "-r", "32", "--db", "t.db", "--repeats", "-1"),
    ("profile", "--space", "proxyless", "-r", "32", "--db", "t.db", "--min-repeat-ms", "-5"),
    ("profile", "--space", "proxyless", "-r", "32", "--db", "t.db", "--limit", "0"),
    ("measure", "--archs", "a.json", "-r", "0"),
    ("measure", "--archs", "a.json", "-r", "32", "--threads", "-2"),
    ("table", "import", "pyproject.toml", "--db", "t.db", "-r", "0"),
    ("run", "art", "--threads", "0"),
    ("run", "art", "--repeats", "0"),
    ("export", "--arch", "a.json", "--target", "x86", "--out", "o", "--threads", "0"),
    ("export", "--arch", "a.json", "--target", "x86", "--out", "o", "--num-classes", "0"),
    ("export", "--arch", "a.json", "--target", "x86", "--out", "o", "--width-mult", "0"),
    ("lower", "--arch", "a.json", "--target", "x86", "--out", "o", "--index", "-1"),
    ("validate", "--db", "t.db", "--out", "o", "-n", "0", "--seed", "1"),
    ("validate", "--db", "t.db", "--out", "o", "-n", "3", "--seed", "1", "--fit-fraction", "0"),
    ("sample", "--space", "proxyless", "-n", "0"),
    ("sample", "--space", "proxyless", "--seed", "-1"),
    ("validate", "--db", "t.db", "--out", "o", "-n", "3", "--seed", "-7"),
    ("board", "up", "x86", "--port", "0"),
]


def archs_file(tmp_path: Path) -> Path:
    """A real one-arch archs file, for commands whose input files must exist."""
    archs = tmp_path / "a.json"
    archs.write_text('{"space": "proxyless", "archs": [[0]]}')
    return archs


def _absurd_option(args: tuple[str, ...]) -> str:
    """The option of `args` given a zero or negative number."""
    return next(opt for opt, value in itertools.pairwise(args) if opt.startswith("-") and value.lstrip("-").isdigit()
                and int(value) <= 0)


@pytest.mark.parametrize("args", ABSURD, ids=lambda a: " ".join(a))
def test_absurd_option_values_are_one_line(tmp_path, args):
    archs = archs_file(tmp_path)   # input files exist, so that the absurd value is what is refused
    args = tuple(str(archs) if a == "a.json" else a for a in args)
    proc = run_python(CLI, *args, LUTNAS_CACHE=str(tmp_path / "cache"))
    one_line_error(proc, "Invalid value", f"'{_absurd_option(args)}'", "-h`")


@pytest.mark.parametrize("command", ["lower", "export"])
def test_a_missing_target_is_named_not_looked_up(tmp_path, command):
    # click >= 8.3 treats an explicit default=None as a value that satisfies required=True
    proc = run_python(CLI, command, "--arch", str(archs_file(tmp_path)), "--out", "o", LUTNAS_CACHE=str(tmp_path / "cache"))
    one_line_error(proc, "Missing option '--target'", f"{command} -h`")


@pytest.mark.parametrize("args", [
    ("measure", "--onnx", "absent.onnx"),
    ("lower", "--arch", "absent.json", "--target", "x86", "--out", "o"),
    ("validate", "--db", "t.db", "--archs", "absent.json", "--out", "o"),
], ids=lambda a: a[0])
def test_a_missing_input_file_is_named_while_parsing(tmp_path, args):
    proc = run_python(CLI, *args, LUTNAS_CACHE=str(tmp_path / "cache"))
    line = one_line_error(proc, "absent.", "does not exist")
    assert "build:" not in proc.stderr, line   # refused before the build was resolved (TVM imported)


def test_resolution_zero_is_never_the_default():
    from lutnas.errors import ArchError
    from lutnas.spaces import get_space

    space = get_space("proxyless")
    assert space.resolve_resolution(None) == space.default_resolution
    assert space.resolve_resolution(64) == 64
    for bad in (0, -32):
        with pytest.raises(ArchError, match=f"resolution {bad} not supported"):
            space.resolve_resolution(bad)


# ---- sample -n: bounded, same draws as before --------------------------------------------------

def test_sample_refuses_an_absurd_count_at_once(tmp_path):
    out = tmp_path / "archs.json"
    proc = run_python(CLI, "sample", "--space", "proxyless", "-n", "1000000000", "-o", str(out))
    one_line_error(proc, "-n 1000000000", "1,000,000")
    assert not out.exists()


def test_sample_draws_what_the_space_samples(tmp_path):
    import json

    import numpy as np

    from lutnas.spaces import get_space

    out = tmp_path / "archs.json"
    proc = run_python(CLI, "sample", "--space", "fbnet", "-n", "5", "--seed", "3", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    rng, space = np.random.default_rng(3), get_space("fbnet")
    assert json.loads(out.read_text()) == {"space": "fbnet", "archs": [list(space.sample(rng)) for _ in range(5)]}


# ---- table import: malformed entries, duplicates, files of another format ----------------------

@pytest.fixture
def exported_json(proxyless_table_db, tmp_path) -> dict:
    import json

    out = tmp_path / "t.json"
    proc = lutnas("table", "export", "--db", str(proxyless_table_db), "--format", "json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_import_entry_without_key_is_one_line(exported_json, tmp_path):
    import json

    del exported_json["entries"][3]["key"]
    bad = tmp_path / "nokey.json"
    bad.write_text(json.dumps(exported_json))
    one_line_error(lutnas("table", "import", str(bad), "--db", str(tmp_path / "n.db")), "entry 3 lacks 'key'")


def test_import_refuses_an_entry_listed_twice(exported_json, tmp_path):
    import json

    from lutnas.latency_tables import open_table

    entries = exported_json["entries"]
    entries.append(dict(entries[5]))
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps(exported_json))
    db = tmp_path / "twice.db"
    one_line_error(lutnas("table", "import", str(twice), "--db", str(db)),
                   f"entries 5 and {len(entries) - 1} both have key {entries[5]['key']!r}")
    entries.pop()
    entries[5]["passes"] = entries[5]["passes"] * 2  # one pass listed twice: stored once
    twice.write_text(json.dumps(exported_json))
    proc = lutnas("table", "import", str(twice), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    table = open_table(db, None)
    assert {d.entry.key: len(d.passes) for d in table.entries()}[entries[5]["key"]] == 1


@pytest.mark.parametrize("name", ["t.csv", "t.txt"])
def test_import_of_a_csv_says_what_import_reads(proxyless_table_db, tmp_path, name):
    out = tmp_path / name
    proc = lutnas("table", "export", "--db", str(proxyless_table_db), "--format", "csv", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    proc = lutnas("table", "import", str(out), "--db", str(tmp_path / "c.db"))
    one_line_error(proc, "CSV", "cannot be imported", "JSON export", "YAML")
    proc = lutnas("table", "import", str(proxyless_table_db), "--db", str(tmp_path / "c.db"))
    one_line_error(proc, "SQLite database", "--db")


# ---- --mcpu: unknown names refused; code this CPU cannot execute never run here ----------------

def lacking_mcpu() -> str:
    """An x86 CPU name whose instruction sets this host lacks (skip when the host has them all)."""
    from lutnas.lowering.cpu_features import missing_host_features

    for mcpu in ("skylake-avx512", "sapphirerapids", "graniterapids", "znver5", "diamondrapids"):
        if missing_host_features(mcpu):
            return mcpu
    pytest.skip("this CPU has every instruction set of the CPUs tried")


def test_unknown_mcpu_is_refused(tmp_path):
    proc = lutnas("lower", "--arch", str(archs_file(tmp_path)), "--target", "x86", "--mcpu", "skylake-avx52",
                  "--out", str(tmp_path))
    one_line_error(proc, "unknown -mcpu 'skylake-avx52'", "did you mean skylake-avx512")
    proc = lutnas("profile", "--space", "proxyless", "-r", "32", "--mcpu", "bogus", "--db", str(tmp_path / "t.db"))
    one_line_error(proc, "unknown -mcpu 'bogus'")
    assert not (tmp_path / "t.db").exists()


def test_mcpu_this_cpu_lacks_is_refused_before_anything_runs(tmp_path):
    from helpers import tiny_net

    from lutnas.lowering.artifact import export_artifact
    from lutnas.lowering.targets import get_target

    mcpu = lacking_mcpu()
    cache = tmp_path / "cache"
    proc = run_python(CLI, "profile", "--space", "proxyless", "-r", "32", "--mcpu", mcpu, "--limit", "1",
                      "--db", str(tmp_path / "t.db"), LUTNAS_CACHE=str(cache))
    one_line_error(proc, f"-mcpu={mcpu}", "this CPU lacks", "--rpc")
    assert not list(cache.glob("libs/*.so"))  # refused before compiling anything
    art = tmp_path / "art"
    manifest = export_artifact(tiny_net(), (1, 3, 16, 16), get_target("x86", mcpu=mcpu), art, {"space": None})
    assert "this CPU lacks" in manifest["numerics"]["summary"]  # built (for another machine), not run here
    from lutnas.lowering.cpu_features import missing_host_features

    lacking = missing_host_features(mcpu)[0]   # named in the error (avx512f on AVX2 hosts, amx-fp16 on a Xeon)
    one_line_error(lutnas("run", str(art)), "cannot run this x86 artifact here", lacking)


def test_a_host_build_turns_off_what_this_cpu_lacks_and_runs_here():
    """A CPU name implies instruction sets a VM may hide (an Emerald Rapids guest without AMX): the host's
    build turns them off with -mattr, and the same goes for any name (`host_mattr`)."""
    from lutnas.errors import UnknownNameError
    from lutnas.lowering.cpu_features import cpu_isa, host_mattr, missing_host_features
    from lutnas.lowering.targets import get_target, host_cpu_options, target_from_json

    assert get_target("x86", **host_cpu_options()).runnable_here() == (True, "")
    mcpu = lacking_mcpu()
    mattr = host_mattr(mcpu)
    assert mattr and all(a.startswith("-") for a in mattr)
    assert not missing_host_features(mcpu, mattr) and not {a[1:] for a in mattr} & cpu_isa(mcpu, mattr)
    spec = get_target("x86", mcpu=mcpu, mattr=mattr)
    assert spec.runnable_here() == (True, "") and spec.target_json["mattr"] == list(mattr)
    assert target_from_json("x86", spec.canonical_json()) == spec   # tables and artifacts record it
    for bad in ("-amx-tile", ["amx-tile"], ["-AMX tile"]):
        with pytest.raises(UnknownNameError, match="mattr must be"):
            get_target("x86", mcpu=mcpu, mattr=bad)

    from lutnas.profiler.doctor import run_checks

    (check,) = run_checks(["host-cpu"])   # `lutnas doctor` says what the host's builds leave out
    hidden = [a[1:] for a in host_cpu_options().get("mattr", ())]
    assert check.status == "ok" and host_cpu_options()["mcpu"] in check.value
    assert all(f in check.value for f in hidden) and ("-mattr" in check.value) == bool(hidden)


# ---- run: the artifact's own files, and an ONNX file tied to its library ----------------------

@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory) -> Path:
    from helpers import tiny_net

    from lutnas.lowering.artifact import export_artifact

    out = tmp_path_factory.mktemp("art") / "tiny"
    export_artifact(tiny_net(), (1, 3, 16, 16), "x86", out, {"space": None})
    return out


def copy_artifact(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, symlinks=True)
    return dst


def test_run_refuses_a_library_symlinked_outside_the_artifact(tiny_artifact, tmp_path):
    import shutil

    art = copy_artifact(tiny_artifact, tmp_path / "art")
    elsewhere = tmp_path / "elsewhere.so"
    shutil.move(art / "model.x86.so", elsewhere)  # same bytes: the sha256 still matches
    (art / "model.x86.so").symlink_to(elsewhere)
    one_line_error(lutnas("run", str(art)), "model.x86.so: is a symbolic link", "refusing")


def test_run_detects_an_onnx_swapped_with_its_hash_fixed(tiny_artifact, tmp_path):
    import json

    import torch

    from lutnas.lowering import export_onnx
    from lutnas.lowering.artifact import file_sha256
    from lutnas.lowering.stamp import STAMP_FUNCTION, read_stamp
    from lutnas.profiler.tvm_runtime import device_for, load_module

    manifest = json.loads((tiny_artifact / "manifest.json").read_text())
    onnx_sha = manifest["files"]["model.onnx"]["sha256"]
    assert read_stamp(tiny_artifact / "model.x86.so") == [onnx_sha]
    from tvm.runtime.vm import VirtualMachine  # the stamp is what the compiled library itself returns

    vm = VirtualMachine(load_module(tiny_artifact / "model.x86.so", "cpu"), device_for("cpu"))
    assert str(vm[STAMP_FUNCTION]()) == f"lutnas-onnx-sha256:{onnx_sha}"

    art = copy_artifact(tiny_artifact, tmp_path / "art")
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(1)).eval()
    export_onnx(other, (1, 3, 16, 16), art / "model.onnx")
    manifest["files"]["model.onnx"] = {"sha256": file_sha256(art / "model.onnx"),
                                       "bytes": (art / "model.onnx").stat().st_size}
    (art / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(lutnas("run", str(art)), "model.onnx: not the model model.x86.so was compiled from",
                   onnx_sha[:12], "refusing")


# ---- compile workers: Ctrl-C stops at once, and no worker outlives its parent -----------------

def start_compiling(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    """`lutnas measure` of 3 networks with 1 compile worker (one compile in flight, two queued), once
    the worker is compiling: (the process, the worker pids)."""
    import json

    import numpy as np
    import psutil

    from lutnas.spaces import get_space

    space, rng = get_space("proxyless"), np.random.default_rng(7)
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps({"space": "proxyless", "archs": [list(space.sample(rng)) for _ in range(3)]}))
    env = {**os.environ, "LUTNAS_CACHE": str(tmp_path / "cache"), "TVM_NUM_THREADS": "1"}
    with open(tmp_path / "stderr.txt", "w") as err, sigint_not_ignored():  # a file: an orphan could hold a pipe
        proc = subprocess.Popen([sys.executable, "-m", "lutnas", "measure", "--archs", str(archs), "-r", "32",
                                 "--workers", "1"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        workers = [c.pid for c in psutil.Process(proc.pid).children()
                   if "spawn_main" in " ".join(c.cmdline())]
        if workers:
            time.sleep(2.0)  # let it get into the compile
            return proc, workers
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no compile worker appeared: {(tmp_path / 'stderr.txt').read_text()}")


def gone_within(pids: list[int], seconds: float) -> bool:
    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def sigint_not_ignored():
    """Children started in the body get SIGINT as a terminal gives it: a suite launched in the
    background by a non-interactive shell (`make test &`) ignores SIGINT, a child inherits an ignored
    signal across exec, and the Ctrl-C test then hung."""
    before = signal.getsignal(signal.SIGINT)
    if before == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        if before == signal.SIG_IGN:
            signal.signal(signal.SIGINT, before)


def test_ctrl_c_during_compiles_stops_at_once(tmp_path):
    proc, workers = start_compiling(tmp_path)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
    finally:
        kill_all([proc.pid, *workers])
    took, err = time.monotonic() - t0, (tmp_path / "stderr.txt").read_text()
    assert proc.returncode is not None and took < 60, f"Ctrl-C ignored for 60 s; stderr so far:\n{err}"
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert took < 10, f"Ctrl-C took {took:.1f} s"
    assert gone_within(workers, 3), "a compile worker survived Ctrl-C"
    assert not list((tmp_path / "cache" / "libs").glob("*.tmp.so"))


def test_kill_9_of_the_parent_takes_its_workers_along(tmp_path):
    proc, workers = start_compiling(tmp_path)
    proc.kill()
    proc.wait()
    try:
        assert gone_within(workers, 5), "a compile worker outlived its SIGKILLed parent"
    finally:
        kill_all(workers)


def kill_all(pids: list[int]) -> None:
    """Leave nothing running whatever a test found (these are the processes it started)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---- one timing lock per device: two runs never time at once ----------------------------------

def start_run(art: Path, locks: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "LUTNAS_LOCK_DIR": str(locks), "TVM_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "lutnas", "run", str(art), "--json", *extra], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_runs_on_one_machine_take_turns(tiny_artifact, tmp_path):
    import json

    slow = ("--repeats", "15", "--min-repeat-ms", "100")  # >= 1.5 s of timing per pass
    procs = [start_run(tiny_artifact, tmp_path / "locks", *slow) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    waited = [err for _, err in outs if "waiting for the timing lock held by pid" in err]
    assert len(waited) >= 1, [err for _, err in outs]
    holder = procs[0].pid if waited[0] is outs[1][1] else procs[1].pid
    assert f"pid {holder}:" in waited[0] and "lutnas run" in waited[0]
    spans = [[(m["started_at"], m["ended_at"]) for m in json.loads(out)["measured"]["passes"]] for out, _ in outs]
    for a0, a1 in spans[0]:
        for b0, b1 in spans[1]:
            assert a1 <= b0 or b1 <= a0, f"passes timed at once: {a0:.2f}-{a1:.2f} and {b0:.2f}-{b1:.2f}"


def test_no_wait_names_the_holder(tiny_artifact, tmp_path):
    locks = tmp_path / "locks"
    first = start_run(tiny_artifact, locks, "--repeats", "600", "--min-repeat-ms", "100")  # a 60 s pass
    try:
        deadline = time.monotonic() + 300
        lock = locks / "local.lock"
        while f"pid {first.pid}:" not in (lock.read_text() if lock.is_file() else ""):
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.1)
        second = run_python(CLI, "run", str(tiny_artifact), "--no-wait", LUTNAS_LOCK_DIR=str(locks))
    finally:
        kill_all([first.pid])
        first.communicate()
    one_line_error(second, f"pid {first.pid}: lutnas run", "timing on this machine", "--no-wait")
