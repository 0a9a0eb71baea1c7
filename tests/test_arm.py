"""arm64 artifacts on the emulated aarch64 board over TVM RPC (marked `arm`).

The board (`lutnas board build arm64`, cached) is an arm64 Debian chroot run through qemu-user; these
tests start its RPC server on a free 127.0.0.1 port and stop it (and unmount the chroot) afterwards.
Where the board cannot exist (not root, rootfs not built: no network at `make test` time) they are
skipped with the reason. Every timing here is emulated and only checked to exist, never compared.

One small network per space is built as the commands build arm64 (`resolve_build`: lutnas-cpu, the
rules sized for NEON) and checked against torch on the board. The board's server needs seconds of
emulated Python to start, so it starts in a thread first and the networks compile meanwhile.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from helpers import bench_script, run_lutnas

from lutnas.profiler import boards

pytestmark = pytest.mark.arm
# the smallest networks each space builds: OFA accepts 128..224 px only; narrow, 10 classes
SPACE_RESOLUTIONS = {"proxyless": 32, "fbnet": 32, "ofa-mbv3": 128}
WIDTH_MULT = 0.25


def lutnas(*args: str):
    """The CLI without torch / onnx / onnxruntime (the host side of a runtime-only deployment)."""
    return run_lutnas(*args, no_torch=True, timeout=600)


def _why_no_board() -> str:
    if os.geteuid() != 0:
        return "the emulated arm64 board needs root (chroot, mounts)"
    ready, why = boards.arm64_ready()
    return "" if ready else why


def _board_or_skip(starting: Future) -> boards.BoardState:
    """The started board; skipped when this machine cannot host it, any other failure raised."""
    try:
        return starting.result()
    except boards.BoardError as err:
        if not str(err).startswith(("missing:", "no network", "building the arm64 board needs root")):
            raise
        pytest.skip(f"emulated arm64 board unavailable: {err}")


@pytest.fixture(scope="module")
def board_starting():
    """The board's RPC server starting in a thread (a Future of its `BoardState`); stopped at the end."""
    why = _why_no_board()
    if why:
        pytest.skip(why)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arm-board")
    starting = pool.submit(boards.start_board, "arm64", boards.free_port())
    yield starting
    pool.shutdown(wait=True)
    if starting.exception() is None:
        boards.stop_board(starting.result().name)
    left = [p for p in boards._mounted_paths() if p.startswith(str(boards.rootfs_dir()))]
    assert not left, f"chroot mounts left behind: {left}"


def _small_arch(space) -> tuple[int, ...]:
    """The space's shallowest network: every layer that may be skipped is, and the layers that stay
    (one per stage) take choices spread over the space's list, so the few layers still cover its
    kernel sizes and expansions (compile time, not coverage, is what the skipped layers cost)."""
    kept = [i for i, layer in enumerate(space.layers) if not any(c.is_skip for c in layer.choices)]
    arch = []
    for i, layer in enumerate(space.layers):
        real = [j for j, c in enumerate(layer.choices) if not c.is_skip]
        skip = [j for j, c in enumerate(layer.choices) if c.is_skip]
        arch.append(skip[0] if skip else real[kept.index(i) * len(real) // len(kept)])
    return space.validate(arch)


@pytest.fixture(scope="module")
def arm_artifacts(board_starting, tmp_path_factory) -> dict[str, Path]:
    """One exported arm64 artifact per space (its `_small_arch`, seeded weights), built while the board
    starts."""
    import torch

    from lutnas.lowering.artifact import export_artifact
    from lutnas.lowering.pipeline import resolve_build
    from lutnas.spaces import get_space

    trained = bench_script("arm_emulated").with_trained_statistics   # input-dependent outputs
    choice = resolve_build("arm64")
    assert choice.pipeline == "lutnas-cpu"   # what `lower/profile/measure/export --target arm64` build
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny tensors, and qemu busy on the other core (see conftest.one_torch_thread)
    out = {}
    for name, res in SPACE_RESOLUTIONS.items():
        space = get_space(name)
        torch.manual_seed(0)
        shape = (1, 3, res, res)
        arch = _small_arch(space)
        net = trained(space.build(arch, res, num_classes=10, width_mult=WIDTH_MULT), shape)
        out[name] = tmp_path_factory.mktemp("arm") / name
        export_artifact(net, shape, choice.target, out[name], {"space": name, "arch": list(arch)},
                        pipeline=choice.pipeline)
    torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def arm_board(board_starting, arm_artifacts) -> boards.BoardState:
    """The board, waited for once the artifacts are built (so compiling overlaps its start)."""
    return _board_or_skip(board_starting)


def test_arm64_artifact_runs_on_the_emulated_board(arm_artifacts, arm_board):
    """`lutnas run --rpc` (no torch on the host side): the aarch64 library loads, matches its
    reference and is timed, the timing marked emulated."""
    art = arm_artifacts["proxyless"]
    m = json.loads((art / "manifest.json").read_text())
    assert m["target"]["target"]["mtriple"] == "aarch64-linux-gnu" and m["pipeline"] == "lutnas-cpu"
    lib = (art / m["library"]).read_bytes()
    assert lib[:4] == b"\x7fELF" and int.from_bytes(lib[18:20], "little") == 183  # EM_AARCH64
    proc = lutnas("run", str(art), "--rpc", arm_board.address(), "--json", "--repeats", "3",
                  "--min-repeat-ms", "5")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["where"] == arm_board.address() and report["check"]["ok"]
    measured = report["measured"]
    assert measured["emulated"] is True and measured["latency_ms"] > 0
    assert measured["device"]["machine"] == "aarch64"
    assert "qemu-user" in measured["device"]["emulation_reason"]


@pytest.mark.parametrize("space_name", list(SPACE_RESOLUTIONS))
def test_space_network_matches_torch_on_the_emulated_board(space_name, arm_artifacts, arm_board):
    """Each space's network, scheduled by the NEON-sized rules, computes on the board what torch
    computed for it (the artifact's reference pair), with an output that depends on its input."""
    from lutnas.lowering.artifact import INPUT_FILE, REFERENCE_FILE
    from lutnas.profiler.deploy import artifact_job
    from lutnas.profiler.rpc import RPCRunner

    art = arm_artifacts[space_name]
    m = json.loads((art / "manifest.json").read_text())
    assert m["numerics"]["ok"] and not m["numerics"]["weak"]   # onnxruntime agrees; a meaningful check
    x, expected = np.load(art / INPUT_FILE), np.load(art / REFERENCE_FILE)
    runner = RPCRunner(arm_board.host, arm_board.port, target="arm64")
    y = runner.run_once(artifact_job(art, m, threads=1), x)
    np.testing.assert_allclose(y, expected, rtol=1e-3, atol=1e-4 + 1e-3 * float(np.abs(expected).max()))
