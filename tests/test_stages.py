"""The stage functions behind `lutnas profile` and `lutnas export`, called from Python (no click):
each step really runs (onnxruntime or TVM on a two-layer space), and what it did comes back."""

from __future__ import annotations

import os

os.environ.setdefault("TVM_NUM_THREADS", "1")

import json
from pathlib import Path

import pytest
from helpers import scaled_runner

from lutnas.errors import ArchError, LutnasError
from lutnas.lowering.targets import get_target
from lutnas.spaces import dump_archs, load_arch

X86 = get_target("x86")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_make_table_profiles_then_fits_and_says_each_step(tiny_space, tmp_path, cache):
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.make import TableRequest, make_table
    from lutnas.latency_tables.settings import ProfileSettings

    settings = ProfileSettings(repeats=3, min_repeat_ms=1.0)
    said: list[str] = []
    build = make_table(TableRequest(tiny_space.name, 32, X86, "onnxruntime", tmp_path / "t.db", settings=settings,
                                    fit_networks=3), say=lambda line, err=False: said.append(line))
    assert build.tuned is None and build.compiled_blocks is None
    assert (build.profiled.entries, build.profiled.measured) == (6, 6)     # 4 unique blocks + stem + head
    assert build.fit is not None and build.fit.n_fit == 3
    assert open_table(tmp_path / "t.db").calibration["source"] == "profile"
    assert said[0] == f"table {build.profiled.table_id} in {tmp_path / 't.db'}"
    assert said[-1].startswith("fitted to 3 whole network(s)")
    # an unfinished table (limit) is not fitted
    part = make_table(TableRequest(tiny_space.name, 32, X86, "onnxruntime", tmp_path / "p.db", settings=settings,
                                   limit=2, fit_networks=3))
    assert (part.profiled.measured, part.fit) == (2, None)


def test_make_table_compile_only_fills_the_caches_and_measures_nothing(tiny_space, tmp_path, cache):
    from lutnas.latency_tables.jobs import block_onnx_path, work_dir_for
    from lutnas.latency_tables.make import TableRequest, make_table

    db = tmp_path / "t.db"
    build = make_table(TableRequest(tiny_space.name, 32, X86, "tvm", db, compile_only=True))
    assert (build.compiled_blocks, build.profiled, build.fit) == (6, None, None)
    assert not db.exists()
    blocks = tiny_space.layer_table(32).unique_blocks()
    assert all(block_onnx_path(work_dir_for(db), k).is_file() for k in blocks)
    assert len(list((cache / "libs").glob("*.so"))) == 6


def test_export_arch_lowers_records_the_prediction_and_measures(tiny_space, tmp_path, cache):
    """`lutnas export` as a function: the artifact is built, checked against torch, timed here, and
    its manifest records the table's prediction (a table of another runtime: allowed, and said)."""
    from click.testing import CliRunner

    from lutnas.cli import cli
    from lutnas.deploy import ExportRequest, export_arch
    from lutnas.errors import TableError
    from lutnas.latency_tables.make import TableRequest, make_table
    from lutnas.latency_tables.settings import ProfileSettings
    from lutnas.lowering.artifact import verify_artifact

    db = tmp_path / "t.db"
    make_table(TableRequest(tiny_space.name, 32, X86, "onnxruntime", db, fit_networks=0,
                            settings=ProfileSettings(repeats=3, min_repeat_ms=1.0, num_classes=10)))
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(dump_archs(tiny_space.name, [(1, 0)])))
    said: list[tuple[str, bool]] = []
    out = tmp_path / "art"
    done = export_arch(ExportRequest(archs, X86, out, num_classes=10, db=db, allow_mismatch=True),
                       say=lambda line, err=False: said.append((line, err)))
    manifest = verify_artifact(out)
    assert (manifest["arch"], manifest["resolution"], manifest["num_classes"]) == ([1, 0], 32, 10)
    assert manifest["pipeline"] == done.manifest["pipeline"] == "tvm-default"
    assert done.run is not None and done.run.check.ok and manifest["measured"]["latency_ms"] > 0
    assert manifest["predicted"]["latency_ms"] > 0 and manifest["predicted"]["runtime"] == "onnxruntime"
    assert ("warning: mismatch allowed: runtime: table has 'onnxruntime', asked 'tvm'", True) in said
    assert said[0][0].startswith(f"{tiny_space.name} arch 0 @ 32 -> {out}/")
    assert done.anchored is None and "runtime" in done.not_anchored   # its anchors are not this runtime's
    assert manifest["measured_at_table_speed"] == {"latency_ms": None, "note": done.not_anchored}
    ran = CliRunner().invoke(cli, ["run", str(out), "--db", str(db)])   # `run --db` allows no mismatch:
    assert isinstance(ran.exception, TableError) and "runtime" in str(ran.exception)   # refused, named,
    assert "measured: " in ran.output                                   # after the run's report is out


@pytest.mark.slow
def test_export_with_a_table_of_this_device_is_timed_at_the_tables_speed(tiny_space, tmp_path, cache):
    """On a device now 3x slower than when its table was profiled, export's second timing (the
    table's anchors at every cycle boundary) sees the factor and brings the artifact back to the
    table's speed; the manifest keeps the raw latency of the same series and the prediction's error
    against the corrected one. `lutnas run --db` does the same for a shipped artifact."""
    from click.testing import CliRunner

    from lutnas.cli import cli
    from lutnas.deploy import ExportRequest, check_against_table, export_arch
    from lutnas.latency_tables.make import TableRequest, make_table
    from lutnas.latency_tables.settings import ProfileSettings
    from lutnas.lowering.artifact import verify_artifact
    from lutnas.profiler.rounds import INTERLEAVED_CYCLES

    db = tmp_path / "t.db"
    make_table(TableRequest(tiny_space.name, 32, X86, "tvm", db, fit_networks=0,
                            settings=ProfileSettings(repeats=3, min_repeat_ms=1.0, num_classes=10)))
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(dump_archs(tiny_space.name, [(1, 0)])))
    slower = scaled_runner(X86, "tvm", 1, lambda _seconds: 3.0)   # every sample really measured, then x3
    done = export_arch(ExportRequest(archs, X86, tmp_path / "art", num_classes=10, db=db), slower)
    manifest = verify_artifact(tmp_path / "art")
    at, predicted = manifest["measured_at_table_speed"], manifest["predicted"]["latency_ms"]
    assert done.anchored is not None and at["cycles"] == INTERLEAVED_CYCLES
    assert at["anchor_method"] == "isolated block entries" and at["anchors"] >= 1
    assert 1.5 < at["device_speed_factor"] < 6.0 and at["raw_ms"] / at["latency_ms"] > 1.5
    assert at["predicted_error"] == pytest.approx(predicted / at["latency_ms"] - 1)
    assert "at the table's profiling speed" in done.anchored.line(predicted)
    off = export_arch(ExportRequest(archs, X86, tmp_path / "off", num_classes=10, db=db, anchors=0))
    assert off.anchored is None and verify_artifact(tmp_path / "off")["measured_at_table_speed"]["note"] == "--anchors 0"
    # `lutnas run --db`: the shipped artifact against the table, later, on the same slow device
    checked = check_against_table(tmp_path / "art", db, None, slower)
    assert checked.predicted["latency_ms"] == pytest.approx(predicted)
    assert checked.anchored is not None and 1.5 < checked.anchored.track.overall < 6.0
    assert checked.to_dict()["measured_at_table_speed"]["predicted_error"] == pytest.approx(
        predicted / checked.anchored.corrected_ms - 1)
    out = CliRunner().invoke(cli, ["run", str(tmp_path / "off"), "--db", str(db)])  # in process: the tiny
    assert out.exit_code == 0, out.output                                          # space is this process's
    assert f"predicted: {predicted:.3f} ms" in out.output and "at the table's profiling speed: " in out.output
    assert "not timed" not in out.output


def test_one_archs_file_check_for_every_command(tmp_path):
    from lutnas.latency_tables.validate import validation_archs

    path = tmp_path / "archs.json"
    path.write_text(json.dumps(dump_archs("proxyless", [[0] * 21, [1] * 21])))
    space, arch = load_arch(path, 1)
    assert (space.name, arch) == ("proxyless", tuple([1] * 21))
    with pytest.raises(ArchError, match=r"archs are for space 'proxyless', not 'fbnet'"):
        load_arch(path, 0, "fbnet")
    with pytest.raises(ArchError, match=r"--index 2 out of range \(file holds 2 archs\)"):
        load_arch(path, 2)
    assert validation_archs("proxyless", path, None, None) == [tuple([0] * 21), tuple([1] * 21)]
    with pytest.raises(ArchError, match="not 'fbnet'"):
        validation_archs("fbnet", path, None, None)
    sampled = validation_archs("proxyless", None, 3, 7)
    assert len(sampled) == 3 and sampled == validation_archs("proxyless", None, 3, 7)
    with pytest.raises(LutnasError, match="-n needs --seed"):
        validation_archs("proxyless", None, 3, None)
    with pytest.raises(LutnasError, match="either --archs FILE or -n N"):
        validation_archs("proxyless", path, 3, 1)
