"""Whole-network measurement, validation reports, calibration and the in-network block method.

Everything runs for real on this CPU with onnxruntime at 32 px (no compilation): the shared
`proxyless_table_db` fixture (tests/conftest.py) is the table, networks are exported and timed by
the profiler's harness. No timing value is asserted (the machine is shared): only shapes, keys,
identities that hold by construction, and that the statistics equal a plain numpy computation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import copy_database

from lutnas.errors import LutnasError, TableError
from lutnas.profiler.stability import StabilityPolicy

ONE_PASS = StabilityPolicy(max_passes=1)
VALIDATION_SEED = 777


def _archs(n: int, seed: int = VALIDATION_SEED) -> list[tuple[int, ...]]:
    from lutnas.spaces import get_space

    rng = np.random.default_rng(seed)
    space = get_space("proxyless")
    return [space.sample(rng) for _ in range(n)]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "LUTNAS_CACHE": str(cache)}


@pytest.fixture(scope="module")
def calibrated_run(proxyless_master_db: Path, tmp_path_factory: pytest.TempPathFactory):
    """One real validation with calibration, stored in the module's own copy of the table:
    7 archs, 3 fit the calibration, 4 are scored."""
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.validate import validate

    out = tmp_path_factory.mktemp("validate")
    table = open_table(copy_database(proxyless_master_db, out / "calibrated.db"))
    report = validate(table, _archs(7), out / "report", calibrate=True, fit_fraction=0.4, seed=3,
                      progress=False, policy=ONE_PASS, work_dir=out / "nets")
    yield report, out / "report", table
    table.close()


def test_validate_writes_report_and_scatter(calibrated_run) -> None:
    report, out, _ = calibrated_run
    data = json.loads((out / "report.json").read_text())
    for key in ("within_5", "within_10", "mape", "rmspe", "bias", "spearman", "rows", "table_id", "space",
                "resolution", "target", "runtime", "threads", "options", "conditions"):
        assert key in data, key
    assert len(data["rows"]) == 7
    for row, arch in zip(data["rows"], _archs(7)):
        assert row["arch"] == list(arch)
        assert set(row) >= {"arch", "predicted", "low", "high", "measured", "rel_error"}
        assert row["measured"] > 0 and row["low"] <= row["predicted"] <= row["high"]
        assert row["rel_error"] == pytest.approx((row["predicted"] - row["measured"]) / row["measured"])
    png = (out / "scatter.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert report.line().startswith("validate: 4 archs, within ±10%: ")


def test_report_statistics_equal_numpy(calibrated_run) -> None:
    _, out, _ = calibrated_run
    data = json.loads((out / "report.json").read_text())
    scored = [r for r in data["rows"] if r["role"] == "score"]
    p = np.array([r["predicted"] for r in scored])
    m = np.array([r["measured"] for r in scored])
    rel = (p - m) / m
    assert data["n"] == len(scored)
    assert data["within_5"] == pytest.approx(np.mean(np.abs(rel) <= 0.05))
    assert data["within_10"] == pytest.approx(np.mean(np.abs(rel) <= 0.10))
    assert data["mape"] == pytest.approx(np.mean(np.abs(rel)))
    assert data["rmspe"] == pytest.approx(np.sqrt(np.mean(rel**2)))
    assert data["bias"] == pytest.approx(np.mean(rel))
    rank = lambda v: np.argsort(np.argsort(v)).astype(float)
    assert data["spearman"] == pytest.approx(np.corrcoef(rank(p), rank(m))[0, 1])


def test_calibration_scored_only_on_held_out(calibrated_run) -> None:
    _, out, table = calibrated_run
    data = json.loads((out / "report.json").read_text())
    fit = [r for r in data["rows"] if r["role"] == "fit"]
    scored = [r for r in data["rows"] if r["role"] == "score"]
    assert len(fit) == 3 and len(scored) == 4
    assert not {tuple(r["arch"]) for r in fit} & {tuple(r["arch"]) for r in scored}
    cal = data["calibration"]
    assert cal["n_fit"] == 3 and len(cal["fit_keys"]) == 3
    # the calibrated numbers are those of the scored rows only
    c = np.array([r["calibrated"] for r in scored])
    m = np.array([r["measured"] for r in scored])
    assert cal["calibrated_on_held_out"]["n"] == 4
    assert cal["calibrated_on_held_out"]["mape"] == pytest.approx(np.mean(np.abs((c - m) / m)))
    for r in data["rows"]:
        assert r["calibrated"] == pytest.approx(cal["a"] * r["predicted"] + cal["b"])
    # stored with the table, and folded into its dense LUT
    stored = table.calibration
    assert stored["a"] == pytest.approx(cal["a"]) and stored["held_out"]["calibrated"]["n"] == 4
    archs = np.asarray(_archs(7))
    raw = table.dense().predict(archs).latency_ms
    calibrated = table.dense(calibrated=True).predict(archs).latency_ms
    np.testing.assert_allclose(calibrated, cal["a"] * raw + cal["b"], rtol=1e-9)


def test_drift_anchors_are_the_slowest_entries_retimed(calibrated_run) -> None:
    _, out, table = calibrated_run
    data = json.loads((out / "report.json").read_text())
    drift = data["drift"]
    medians = {d.entry.key: float(np.median([s for p in d.kept for s in p.measurement.samples_ms]))
               for d in table.entries() if d.passes and d.entry.role != "head"}
    slowest = sorted(medians, key=lambda k: -medians[k])[:4]
    assert [a["key"] for a in drift["anchors"]] == slowest
    for a in drift["anchors"]:
        assert a["table_ms"] == pytest.approx(medians[a["key"]])
        assert a["before_ms"] > 0 and a["after_ms"] > 0
        assert a["ratio"] == pytest.approx(np.sqrt(a["before_ms"] * a["after_ms"]) / a["table_ms"])
    ratios = np.array([a["ratio"] for a in drift["anchors"]])
    assert drift["factor"] == pytest.approx(np.median(ratios))
    assert drift["spread"] == pytest.approx(ratios.max() / ratios.min())
    scored = [r for r in data["rows"] if r["role"] == "score"]
    for r in data["rows"]:
        assert r["drift_corrected"] == pytest.approx(r["predicted"] * drift["factor"])
    c = np.array([r["drift_corrected"] for r in scored])
    m = np.array([r["measured"] for r in scored])
    assert drift["corrected"]["n"] == 4
    assert drift["corrected"]["bias"] == pytest.approx(np.mean((c - m) / m))


def test_search_with_the_stored_calibration(calibrated_run, tmp_path: Path, lutnas_cache: Path) -> None:
    """`search --calibrated` holds the budget on calibrated latencies (what a lutnas-cpu table needs)."""
    _, _, table = calibrated_run
    calibrated = table.dense(calibrated=True)
    budget = float(np.median(calibrated.predict(np.asarray(_archs(16, seed=5))).latency_ms))
    out = subprocess.run([sys.executable, "-m", "lutnas", "search", "--db", str(table.store.path), "--strategy",
                          "evolution", "--latency-ms", f"{budget}", "--population", "8", "--generations", "2",
                          "--batch-size", "16", "--calibrated", "--out", str(tmp_path / "s")],
                         check=False, capture_output=True, text=True, env=_env(lutnas_cache), timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "s" / "result.json").read_text())
    expected = calibrated.predict(np.asarray([result["arch"]])).latency_ms[0]
    assert result["latency_ms"] == pytest.approx(expected, rel=1e-9) and result["latency_ms"] <= budget
    assert table.dense().predict(np.asarray([result["arch"]])).latency_ms[0] != pytest.approx(expected, rel=1e-6)


def test_split_is_disjoint_and_seeded() -> None:
    from lutnas.latency_tables.calibration import split_fit_score

    fit, score = split_fit_score(45, 1 / 3, seed=5)
    assert len(fit) == 15 and len(score) == 30 and not set(fit) & set(score)
    assert sorted([*fit, *score]) == list(range(45))
    assert np.array_equal(split_fit_score(45, 1 / 3, seed=5)[0], fit)
    with pytest.raises(TableError, match="at least 4"):
        split_fit_score(3, 0.5, seed=0)


def test_mismatched_runner_is_refused_naming_the_field(proxyless_table_db: Path, tmp_path: Path) -> None:
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.validate import validate
    from lutnas.profiler.runners import LocalRunner

    table = open_table(proxyless_table_db)
    other = LocalRunner("x86", "onnxruntime", threads=2)
    with pytest.raises(TableError, match="threads"):
        validate(table, _archs(2), tmp_path / "v", runner=other, progress=False, policy=ONE_PASS)
    assert not (tmp_path / "v" / "report.json").exists()


def test_allow_mismatch_is_recorded(proxyless_table_db: Path, tmp_path: Path) -> None:
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.validate import validate
    from lutnas.profiler.runners import LocalRunner

    table = open_table(proxyless_table_db)
    other = LocalRunner("x86", "onnxruntime", threads=2)
    report = validate(table, _archs(2, seed=11), tmp_path / "v", runner=other, allow_mismatch=True,
                      progress=False, policy=ONE_PASS, work_dir=tmp_path / "nets")
    data = json.loads((tmp_path / "v" / "report.json").read_text())
    assert data["allow_mismatch"] is True and any("threads" in m for m in data["mismatched"])
    assert report.mismatched == data["mismatched"]


def test_measure_json_shape(tmp_path: Path, lutnas_cache: Path) -> None:
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps({"space": "proxyless", "archs": [list(a) for a in _archs(2, seed=5)]}))
    out = subprocess.run([sys.executable, "-m", "lutnas", "measure", "--space", "proxyless", "-r", "32",
                          "--runtime", "onnxruntime", "--archs", str(archs), "--json"],
                         check=False, capture_output=True, text=True, env=_env(lutnas_cache), timeout=300)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["arch"] for r in rows] == [list(a) for a in _archs(2, seed=5)]
    for r in rows:
        assert r["latency_ms"] > 0 and len(r["samples_ms"]) >= 10 and r["passes"] >= 1
        assert isinstance(r["unstable"], bool) and min(r["samples_ms"]) <= r["latency_ms"] <= max(r["samples_ms"])


def test_validate_cli_prints_the_accuracy_line(proxyless_table_db: Path, tmp_path: Path, lutnas_cache: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "lutnas", "validate", "--db", str(proxyless_table_db), "-n", "3",
                          "--seed", "12345", "--out", str(tmp_path / "v")],
                         check=False, capture_output=True, text=True, env=_env(lutnas_cache), timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("validate: 3 archs, within ±10%: ")
    assert "device speed vs profiling: x" in out.stdout and "validate (drift-corrected): 3 archs" in out.stdout
    assert {"report.json", "scatter.png"} <= {p.name for p in (tmp_path / "v").iterdir()}
    bad = subprocess.run([sys.executable, "-m", "lutnas", "validate", "--db", str(proxyless_table_db), "-n", "3",
                          "--out", str(tmp_path / "w")], check=False, capture_output=True, text=True,
                         env=_env(lutnas_cache))
    assert bad.returncode != 0 and "--seed" in bad.stderr and "Traceback" not in bad.stderr


# -- in-network block measurement (context.py) ------------------------------------------------------
def test_covering_archs_cover_every_cell_twice() -> None:
    from lutnas.latency_tables.context import covering_archs
    from lutnas.spaces import get_space

    for name in ("proxyless", "ofa-mbv3"):
        space = get_space(name)
        archs = covering_archs(space, rounds=2, seed=0)
        for layer in range(space.num_layers):
            for c, choice in enumerate(space.layers[layer].choices):
                if not choice.is_skip:
                    assert sum(a[layer] == c for a in archs) >= 2, (name, layer, c)
        assert all(space.validate(a) == a for a in archs)
    assert len(covering_archs(get_space("proxyless"), 2, 0)) == 14   # 7 choices x 2 Latin rounds


def test_in_network_method_refused_for_tvm() -> None:
    from lutnas.latency_tables.context import check_method

    with pytest.raises(LutnasError, match="onnxruntime"):
        check_method("in-network", "tvm")
    with pytest.raises(LutnasError, match="valid: isolated, in-network"):
        check_method("alone", "onnxruntime")


def test_in_network_table_profiles_and_resumes(tmp_path: Path) -> None:
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.profile import ProfileSettings, profile_table

    db = tmp_path / "innet.db"
    settings = ProfileSettings(repeats=2, min_repeat_ms=1.0, warmup=1, measure_mode="in-network")
    first = profile_table("proxyless", 32, "x86", "onnxruntime", db, settings=settings, progress=False,
                          policy=ONE_PASS, work_dir=tmp_path / "work")
    table = open_table(db)
    assert table.meta.options["measure_mode"] == "in-network"
    entries = table.entries()
    assert first.entries == len(entries) and all(d.passes for d in entries)
    layer_entries = [d for d in entries if d.entry.role == "layer"]
    assert all(len(d.passes) >= 2 for d in layer_entries)           # each cell sits in >= 2 networks
    m = entries[0].passes[0].measurement
    assert m.meta["method"] == "in-network" and m.meta["network"].startswith("net-proxyless-r32-")
    assert np.isfinite(table.dense().predict(np.asarray(_archs(3))).latency_ms).all()
    again = profile_table("proxyless", 32, "x86", "onnxruntime", db, settings=settings, progress=False,
                          policy=ONE_PASS, work_dir=tmp_path / "work")
    assert again.table_id == first.table_id and again.passes == 0


def test_profiled_blocks_add_up_to_the_network(tmp_path: Path) -> None:
    """By construction: the blocks' median in-network times sum to the unprofiled median latency,
    every node of the network is attributed to a block or named as glue."""
    from lutnas.latency_tables.context import profile_network
    from lutnas.latency_tables.jobs import export_networks
    from lutnas.spaces import get_space

    space = get_space("proxyless")
    arch = _archs(1, seed=21)[0]
    (path,) = export_networks(space, [arch], 32, tmp_path)
    blocks = space.blocks(arch, 32)
    prof = profile_network(path, arch, [b.key for b in blocks], repeats=3, min_repeat_ms=2.0, work_dir=tmp_path)
    assert prof.block_ms.shape == (3, len(blocks)) and (prof.block_ms > 0).all()
    total = sum(float(np.median(prof.block_samples_ms(i))) for i in range(len(blocks)))
    assert total == pytest.approx(float(np.median(prof.plain_ms)), rel=1e-9)
    assert all(not g.startswith("/") for g in prof.glue_nodes)
    assert not list(tmp_path.glob("ortprof_*"))                   # profiler traces are removed


def test_validate_warns_when_the_anchors_moved(capsys) -> None:
    from lutnas.cli import _warn_if_drifted
    from lutnas.latency_tables.drift import AnchorRow, Drift

    rows = (AnchorRow("a", 1.0, 2.0, 2.0), AnchorRow("b", 1.0, 2.1, 2.1))
    _warn_if_drifted(Drift(2.05, 1.05, 1.0, rows))
    assert "x2.05 the speed" in capsys.readouterr().err
    _warn_if_drifted(Drift(1.04, 1.01, 1.0, rows))
    _warn_if_drifted(None)
    assert capsys.readouterr().err == ""


def test_stored_calibration_is_scored_on_rows_it_was_not_fitted_on() -> None:
    """build_report with the table's stored fit: rows of fit archs are marked "fit" and left out of
    every statistic; when every row is a fit arch there is nothing to score it on, so it is not used."""
    from dataclasses import dataclass as _dataclass
    from types import SimpleNamespace

    from lutnas.latency_tables.calibration import Calibration
    from lutnas.latency_tables.validate import build_report

    @_dataclass
    class Measured:   # the fields build_report reads of a NetworkMeasurement
        key: str
        latency_ms: float
        unstable: bool = False

    pred = np.array([1.0, 2.0, 3.0, 4.0])
    prediction = SimpleNamespace(latency_ms=pred, low_ms=pred * 0.9, high_ms=pred * 1.1)
    measured = [Measured(f"net{i}", 1.2 * p + 0.1) for i, p in enumerate(pred)]
    archs = [(i,) for i in range(4)]
    stored = Calibration("linear", 1.2, 0.1, 0.0, 2, ("net1", "elsewhere"))
    report = build_report({}, archs, prediction, measured, stored=stored)
    assert [r.role for r in report.rows] == ["score", "fit", "score", "score"]
    assert report.calibration_source == "stored" and report.accuracy.n == 3
    assert report.calibrated_accuracy.n == 3 and report.calibrated_accuracy.mape == pytest.approx(0.0, abs=1e-12)
    assert report.accuracy.bias < -0.1   # raw: the table under-predicts by the fitted map
    everything = Calibration("linear", 1.2, 0.1, 0.0, 4, tuple(m.key for m in measured))
    unused = build_report({}, archs, prediction, measured, stored=everything)
    assert unused.calibration is None and unused.accuracy.n == 4
    assert all(r.role == "score" for r in unused.rows)


# -- tables of the old default pipeline -------------------------------------------------------------
@pytest.mark.slow
def test_old_tvm_default_table_validates_with_its_recorded_build(tmp_path: Path, monkeypatch) -> None:
    """A table profiled with the old default (tvm-default, plain llvm: the v1 fixture, from another
    machine, hence allow_mismatch) validates as what it is: its networks compile with the recorded
    pipeline and target, not the commands' new default (lutnas-cpu for this host)."""
    import shutil

    from helpers import REPO

    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.validate import validate
    from lutnas.lowering.targets import get_target
    from lutnas.profiler.workers import cache_key

    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path / "cache"))     # the anchors' blocks compile there
    db = Path(shutil.copy(REPO / "tests" / "fixtures" / "lutnas_v1.db", tmp_path / "old.db"))
    table = open_table(db)
    try:
        report = validate(table, _archs(2, seed=31337), tmp_path / "v", allow_mismatch=True, anchors=1,
                          progress=False, policy=ONE_PASS, work_dir=tmp_path / "nets", cache_dir=tmp_path / "libs")
    finally:
        table.close()
    assert report.conditions["pipeline"] == "tvm-default" and len(report.rows) == 2
    assert report.mismatched and not any(m.startswith("target") for m in report.mismatched)
    networks = sorted((tmp_path / "nets").rglob("*.onnx"))
    assert len(networks) == 2
    built = {p.stem for p in (tmp_path / "libs").glob("*.so")}
    assert {cache_key(p, (1, 3, 32, 32), get_target("x86"), "tvm-default") for p in networks} <= built
