"""An arm64 artifact on the emulated aarch64 board over TVM RPC (marked `arm`).

The board (`lutnas board build arm64`, cached) is an arm64 Debian chroot run through qemu-user; these
tests start its RPC server on a free 127.0.0.1 port and stop it (and unmount the chroot) afterwards.
Where the board cannot exist (not root, rootfs not built: no network at `make test` time) they are
skipped with the reason. Every timing here is emulated and only checked to exist, never compared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import run_lutnas
from helpers import tiny_net as _tiny_net

from lutnas.profiler import boards

pytestmark = pytest.mark.arm
SHAPE = (1, 3, 16, 16)


def lutnas(*args: str):
    """The CLI without torch / onnx / onnxruntime (the host side of a runtime-only deployment)."""
    return run_lutnas(*args, no_torch=True, timeout=600)


def _why_no_board() -> str:
    if os.geteuid() != 0:
        return "the emulated arm64 board needs root (chroot, mounts)"
    ready, why = boards.arm64_ready()
    return "" if ready else why


@pytest.fixture(scope="module")
def arm_board():
    why = _why_no_board()
    if why:
        pytest.skip(why)
    try:
        state = boards.start_board("arm64", boards.free_port())
    except boards.BoardError as err:  # the machine cannot host the board: skip; anything else fails
        if not str(err).startswith(("missing:", "no network", "building the arm64 board needs root")):
            raise
        pytest.skip(f"emulated arm64 board unavailable: {err}")
    yield state
    boards.stop_board(state.name)
    left = [p for p in boards._mounted_paths() if p.startswith(str(boards.rootfs_dir()))]
    assert not left, f"chroot mounts left behind: {left}"


@pytest.fixture(scope="module")
def arm_artifact(tmp_path_factory) -> Path:
    from lutnas.lowering.artifact import export_artifact

    out = tmp_path_factory.mktemp("arm") / "tiny-arm64"
    export_artifact(_tiny_net(), SHAPE, "arm64", out, {"space": None, "note": "arm test net"})
    return out


def test_arm64_artifact_matches_torch_on_the_emulated_board(arm_board, arm_artifact):
    m = json.loads((arm_artifact / "manifest.json").read_text())
    assert m["target"]["target"]["mtriple"] == "aarch64-linux-gnu"
    lib = (arm_artifact / m["library"]).read_bytes()
    assert lib[:4] == b"\x7fELF" and int.from_bytes(lib[18:20], "little") == 183  # EM_AARCH64
    proc = lutnas("run", str(arm_artifact), "--rpc", arm_board.address(), "--json", "--repeats", "3",
                  "--min-repeat-ms", "5")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["where"] == arm_board.address() and report["check"]["ok"]
    measured = report["measured"]
    assert measured["emulated"] is True and measured["latency_ms"] > 0
    assert measured["device"]["machine"] == "aarch64"
    assert "qemu-user" in measured["device"]["emulation_reason"]

    import torch

    from lutnas.profiler.deploy import artifact_job
    from lutnas.profiler.rpc import RPCRunner

    x = np.load(arm_artifact / "input.npy")
    with torch.no_grad():
        expected = _tiny_net()(torch.from_numpy(x)).numpy()
    runner = RPCRunner(arm_board.host, arm_board.port, target="arm64")
    y = runner.run_once(artifact_job(arm_artifact, m, threads=1), x)
    np.testing.assert_allclose(y, expected, rtol=1e-3, atol=1e-4 + 1e-3 * float(np.abs(expected).max()))
