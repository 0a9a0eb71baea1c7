"""Artifacts: export writes a sha256 manifest + reference pair; `lutnas run` verifies before loading,
reproduces the reference output and times with the profiler harness; search weights map onto the
exported network; cuda artifacts compile without a GPU and say they were not measured."""

from __future__ import annotations

import os

os.environ.setdefault("TVM_NUM_THREADS", "1")

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_lutnas as lutnas
from helpers import tiny_net as _tiny_net

from lutnas.lowering.artifact import ArtifactError, export_artifact, file_sha256, verify_artifact

SHAPE = (1, 3, 16, 16)

@pytest.fixture(scope="module")
def x86_artifact(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("art") / "tiny-x86"
    export_artifact(_tiny_net(), SHAPE, "x86", out, {"space": None, "arch": None, "note": "test net"})
    return out


def test_manifest_pins_every_file(x86_artifact):
    m = json.loads((x86_artifact / "manifest.json").read_text())
    on_disk = {p.name for p in x86_artifact.iterdir()} - {"manifest.json"}
    assert set(m["files"]) == on_disk == {"model.onnx", "model.x86.so", "artifact.json", "input.npy",
                                          "reference_output.npy"}
    for name, rec in m["files"].items():
        assert rec["sha256"] == file_sha256(x86_artifact / name) and rec["bytes"] > 0
    assert m["target"]["target"] == {"kind": "llvm"} and len(m["target_hash"]) == 16
    assert m["input"]["shape"] == list(SHAPE) and m["output"]["shape"] == [1, 5]
    assert m["versions"]["tvm"] == "0.27.0.post1" and m["versions"]["onnxruntime"]
    assert m["numerics"]["ok"] and not m["numerics"]["weak"]
    import torch

    x = np.load(x86_artifact / "input.npy")
    with torch.no_grad():
        ref = _tiny_net()(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(np.load(x86_artifact / "reference_output.npy"), ref)


@pytest.mark.parametrize("victim", ["model.x86.so", "reference_output.npy", "input.npy", "model.onnx"])
def test_tampered_or_missing_file_is_refused(x86_artifact, tmp_path, victim):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(x86_artifact, art)
    with open(art / victim, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ArtifactError, match=f"{victim}: sha256 differs"):
        verify_artifact(art)
    proc = lutnas("run", str(art))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and victim in proc.stderr and "refusing" in proc.stderr
    (art / victim).unlink()
    with pytest.raises(ArtifactError, match=f"{victim}: missing"):
        verify_artifact(art)


def test_not_an_artifact(tmp_path):
    proc = lutnas("run", str(tmp_path))
    assert proc.returncode == 2 and "manifest.json: missing" in proc.stderr


def test_artifact_timed_against_onnxruntime_side_by_side(x86_artifact):
    """The demo's last step: the artifact's library and its own ONNX file, same threads, one
    sample of each per cycle; the ratio is the median of the per-cycle ratios."""
    from lutnas.profiler.deploy import artifact_vs_onnxruntime

    vs = artifact_vs_onnxruntime(x86_artifact, threads=1, rounds=3, repeats=2, min_repeat_ms=1.0)
    assert len(vs.tvm_ms) == len(vs.ort_ms) == 3 and vs.threads == 1
    assert min(vs.tvm_ms) > 0 and min(vs.ort_ms) > 0
    per_round = sorted(t / o for t, o in zip(vs.tvm_ms, vs.ort_ms))
    assert vs.ratio == pytest.approx(per_round[1])
    assert vs.tvm_median_ms == sorted(vs.tvm_ms)[1] and vs.ort_median_ms == sorted(vs.ort_ms)[1]


def test_local_runtimes_refuse_a_job_of_a_runtime_they_do_not_hold(tmp_path):
    from lutnas.errors import DeviceError
    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.runners import LocalRunner, LocalRuntimes

    job = MeasureJob(key="net-ort", input_shape=(1, 3, 8, 8), runtime="onnxruntime", onnx_path=tmp_path / "n.onnx",
                     target="x86", threads=1)
    with pytest.raises(DeviceError, match="asks for onnxruntime; these runners time tvm"):
        LocalRuntimes([LocalRunner("x86", "tvm", 1)]).sampler(job)


def test_run_reproduces_reference_without_torch(x86_artifact):
    before = (x86_artifact / "manifest.json").read_text()
    proc = lutnas("run", str(x86_artifact), "--json", "--repeats", "3", "--min-repeat-ms", "2", no_torch=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["where"] == "local"
    assert report["check"]["ok"] and report["check"]["max_abs"] <= report["check"]["bound"]
    assert report["check"]["rtol"] == 1e-3 and report["check"]["atol"] == 1e-4
    measured = report["measured"]
    assert measured["latency_ms"] > 0 and len(measured["passes"][0]["samples_ms"]) == 3
    assert measured["emulated"] is False
    assert (x86_artifact / "manifest.json").read_text() == before  # run never rewrites the artifact


def test_cuda_artifact_compiles_without_gpu(tmp_path):
    from lutnas.errors import DeviceError
    from lutnas.lowering.targets import get_target
    from lutnas.profiler.deploy import local_runner

    if get_target("cuda").runnable_here()[0]:
        pytest.skip("this machine has a GPU; the no-GPU path is what is tested here")
    out = tmp_path / "tiny-cuda"
    m = export_artifact(_tiny_net(), SHAPE, "cuda", out, {"space": None})
    assert m["library"] == "model.cuda.so" and m["target"]["target"]["kind"] == "cuda"
    assert verify_artifact(out)["files"]["model.cuda.so"]["bytes"] > 0
    with pytest.raises(DeviceError, match="no cuda device"):
        local_runner(get_target("cuda"))
    proc = lutnas("run", str(out), no_torch=True)
    assert proc.returncode == 2 and "no cuda device" in proc.stderr


def test_export_refuses_a_table_for_another_setup(proxyless_table_db, tmp_path):
    """The session's table is onnxruntime: exporting a TVM artifact against it names the mismatch."""
    (tmp_path / "arch.json").write_text(json.dumps({"space": "proxyless", "archs": [[0] * 21]}))
    proc = lutnas("export", "--arch", str(tmp_path / "arch.json"), "--target", "x86", "-r", "32",
                  "--db", str(proxyless_table_db), "--out", str(tmp_path / "art"))
    assert proc.returncode == 2 and "does not match" in proc.stderr and "runtime" in proc.stderr
    assert "--allow-mismatch" in proc.stderr and not (tmp_path / "art").exists()  # refused before compiling


@pytest.mark.slow
def test_export_cli_maps_search_weights(tmp_path, proxyless_table_db):
    """`lutnas search` weights (a supernet path) export with the trained tensors, measured here."""
    import torch
    from safetensors.torch import save_file

    from lutnas.search.supernet import Supernet, single
    from lutnas.spaces import get_space

    space = get_space("proxyless")
    arch = list(space.sample(np.random.default_rng(3)))
    torch.manual_seed(1)
    net = Supernet(space, 32, num_classes=10, width_mult=0.25).eval()
    weights = tmp_path / "weights.safetensors"
    save_file(net.subnet_state(arch), str(weights), metadata={"space": "proxyless", "arch": json.dumps(arch)})
    (tmp_path / "arch.json").write_text(json.dumps({"space": "proxyless", "archs": [arch]}))
    out = tmp_path / "art"
    proc = lutnas("export", "--arch", str(tmp_path / "arch.json"), "--weights", str(weights), "--target", "x86",
                  "-r", "32", "--out", str(out), "--db", str(proxyless_table_db), "--allow-mismatch", timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "warning: mismatch allowed: runtime" in proc.stderr
    assert "numerics ok" in proc.stdout and "measured:" in proc.stdout
    m = verify_artifact(out)
    assert m["weights"]["width_mult"] == 0.25 and m["weights"]["num_classes"] == 10
    assert m["space"] == "proxyless" and m["arch"] == arch and m["resolution"] == 32
    assert m["measured"]["latency_ms"] > 0 and m["device_check"]["ok"]
    pred = m["predicted"]
    assert pred["low_ms"] <= pred["latency_ms"] <= pred["high_ms"] and pred["runtime"] == "onnxruntime"
    assert {line.split(":")[0] for line in pred["mismatch_allowed"]} >= {"runtime", "width_mult", "num_classes"}
    x = torch.from_numpy(np.load(out / "input.npy"))
    with torch.no_grad():
        expected = net(x, single(arch)).numpy()
    np.testing.assert_allclose(np.load(out / "reference_output.npy"), expected, rtol=1e-5, atol=1e-6)
    wrong = list(arch)
    wrong[0] = (wrong[0] + 1) % 6
    (tmp_path / "wrong.json").write_text(json.dumps({"space": "proxyless", "archs": [wrong]}))
    proc = lutnas("export", "--arch", str(tmp_path / "wrong.json"), "--weights", str(weights), "--target", "x86",
                  "-r", "32", "--out", str(tmp_path / "bad"))
    assert proc.returncode == 2 and "weights are for arch" in proc.stderr
