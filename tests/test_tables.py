"""latency_tables: store, statistics, dense prediction, profiling (kill -9 + resume), formats, bad input.

One real table (conftest `proxyless_table_db`: proxyless @ 32 px, onnxruntime, measured here) is
shared; a TVM test compiles and times a few blocks of its own. The numpy reference of every
statistic lives here and nowhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import copy_database

from lutnas.errors import ArchError, TableError
from lutnas.latency_tables import SCHEMA_VERSION, DenseTable, Store, open_table
from lutnas.latency_tables.formats import export_table, import_table, table_summaries
from lutnas.latency_tables.stats import entry_stats, estimates, flatten_passes
from lutnas.profiler.fingerprint import fingerprint_id
from lutnas.profiler.runners import LocalRunner
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, verdict
from lutnas.spaces import get_space

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def lutnas_cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lutnas", *args], check=False, capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"lutnas {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


# -- numpy reference of the statistics (only here) ----------------------------------------------------
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _splitmix(state: int) -> tuple[int, int]:
    state = (state + GOLDEN) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def _ref_mad_mean(x: np.ndarray) -> tuple[float, int]:
    med = np.median(x)
    mad = np.median(np.abs(x - med))
    if mad == 0:
        return float(x.mean()), x.size
    keep = np.abs(x - med) <= 3.5 * 1.4826 * mad
    return float(x[keep].mean()), int(keep.sum())


def _ref_estimate(x: np.ndarray, estimator: str) -> float:
    if estimator == "median":
        return float(np.median(x))
    if estimator == "min":
        return float(np.min(x))
    if estimator == "trimmed_mean":
        k = int(0.1 * x.size)
        return float(np.sort(x)[k:x.size - k].mean())
    return _ref_mad_mean(x)[0]


def _ref_bootstrap(passes: list[np.ndarray], estimator: str, n_boot: int, state: int) -> list[float]:
    """Replicates: pooled estimators resample the sorted pooled samples; the median of round minima
    resamples within each sorted pass (the same SplitMix64 stream, passes in order)."""
    reps = []
    pooled = np.sort(np.concatenate(passes))
    for _ in range(n_boot):
        if estimator == "median_of_round_minima":
            mins = []
            for p in passes:
                xs = np.sort(p)
                draws = []
                for _ in range(xs.size):
                    state, r = _splitmix(state)
                    draws.append(xs[r % xs.size])
                mins.append(min(draws))
            reps.append(float(np.median(mins)))
            continue
        idx = []
        for _ in range(pooled.size):
            state, r = _splitmix(state)
            idx.append(r % pooled.size)
        reps.append(_ref_estimate(pooled[idx], estimator))
    return reps


def _ref_stats(entries: list[list[np.ndarray]], estimator: str, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    out: dict[str, list] = {k: [] for k in ("kept", "median", "trimmed_mean", "mad_mean", "p10", "p90",
                                            "estimate", "boot_low", "boot_high", "var")}
    for i, passes in enumerate(entries):
        x = np.sort(np.concatenate(passes))
        mm, kept = _ref_mad_mean(x)
        out["kept"].append(kept)
        out["median"].append(np.median(x))
        out["trimmed_mean"].append(_ref_estimate(x, "trimmed_mean"))
        out["mad_mean"].append(mm)
        out["p10"].append(np.quantile(x, 0.1))
        out["p90"].append(np.quantile(x, 0.9))
        minima = np.median([p.min() for p in passes])
        out["estimate"].append(minima if estimator == "median_of_round_minima" else _ref_estimate(x, estimator))
        _, state = _splitmix(seed ^ ((i * GOLDEN) & MASK))
        reps = _ref_bootstrap(passes, estimator, n_boot, state)
        out["boot_low"].append(np.quantile(reps, 0.025))
        out["boot_high"].append(np.quantile(reps, 0.975))
        out["var"].append(np.var(reps, ddof=1))
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _noisy_entries(rng: np.random.Generator, count: int) -> list[list[np.ndarray]]:
    """Entries of 1-4 passes; passes differ in speed (a drifting machine), samples have outliers and ties."""
    entries = []
    for _ in range(count):
        base = rng.uniform(0.05, 5.0)
        passes = []
        for _ in range(int(rng.integers(1, 5))):
            n = int(rng.integers(1, 12))
            x = rng.lognormal(np.log(base * rng.uniform(0.8, 1.25)), 0.05, n)
            outliers = rng.random(n) < 0.15
            x[outliers] *= rng.uniform(1.5, 4.0, outliers.sum())   # preemption-like slow samples
            if n > 4 and rng.random() < 0.2:
                x[: n // 2] = x[0]                                   # ties (MAD may be 0)
            passes.append(x)
        entries.append(passes)
    return entries


@pytest.mark.parametrize("estimator", ["median", "trimmed_mean", "mad_mean", "min", "median_of_round_minima"])
def test_numba_statistics_equal_numpy_reference(estimator):
    rng = np.random.default_rng(7)
    entries = _noisy_entries(rng, 40)
    samples, offsets, pass_offsets = flatten_passes(entries)
    got = entry_stats(samples, offsets, estimator=estimator, n_boot=64, seed=11, pass_offsets=pass_offsets)
    ref = _ref_stats(entries, estimator, n_boot=64, seed=11)
    assert got.count.tolist() == [sum(p.size for p in passes) for passes in entries]
    for name, want in ref.items():
        np.testing.assert_allclose(getattr(got, name), want, rtol=1e-12, atol=1e-13, err_msg=name)
    assert np.all(got.boot_low <= got.estimate + 1e-12) and np.all(got.estimate <= got.boot_high + 1e-12)
    again = entry_stats(samples, offsets, estimator=estimator, n_boot=64, seed=11, pass_offsets=pass_offsets)
    assert np.array_equal(again.var, got.var)            # seeded: deterministic
    other = entry_stats(samples, offsets, estimator=estimator, n_boot=64, seed=12, pass_offsets=pass_offsets)
    assert not np.array_equal(other.boot_high, got.boot_high)
    point = estimates(entries, estimator)                # the point estimate alone (networks use it)
    np.testing.assert_allclose(point, ref["estimate"], rtol=1e-12)


def test_round_minima_ignore_one_slow_round():
    """Median of round minima: a whole pass slowed 3x (a busy minute) leaves it where the other passes are."""
    calm = [np.array([1.00, 1.05, 1.2]), np.array([1.01, 1.1]), np.array([0.99, 1.3, 1.02])]
    busy = [*calm, 3.0 * calm[0]]
    assert estimates([busy], "median_of_round_minima")[0] == pytest.approx(1.005)
    assert estimates([busy], "median")[0] > estimates([calm], "median")[0]
    assert estimates([[np.array([2.0, 1.0, 3.0])]], "median_of_round_minima")[0] == 1.0   # one pass: its min


def test_statistics_reject_bad_input():
    with pytest.raises(TableError, match="offsets"):
        entry_stats(np.ones(3), np.array([0, 2, 2, 3]))
    with pytest.raises(TableError, match="finite"):
        entry_stats(np.array([1.0, np.nan]), np.array([0, 2]))
    with pytest.raises(TableError, match="unknown estimator"):
        entry_stats(np.ones(2), np.array([0, 2]), estimator="mode")
    with pytest.raises(TableError, match="start a pass"):
        entry_stats(np.ones(4), np.array([0, 2, 4]), pass_offsets=np.array([0, 1, 4]))


# -- dense table and prediction --------------------------------------------------------------------
def test_predict_equals_explicit_sum(proxyless_table_db):
    table = open_table(proxyless_table_db)
    space = get_space("proxyless")
    dense = table.dense()
    measured, st = table.statistics()
    est = {d.entry.key: (st.estimate[i], st.var[i]) for i, d in enumerate(measured)}
    rng = np.random.default_rng(3)
    archs = [space.sample(rng) for _ in range(64)]
    pred = dense.predict(np.asarray(archs, dtype=np.int8))
    for i, arch in enumerate(archs):
        blocks = space.blocks(arch, 32)              # stem, fixed, active layers, head: the whole network
        lat = sum(est[b.key][0] for b in blocks)
        var = sum(est[b.key][1] for b in blocks)
        assert pred.latency_ms[i] == pytest.approx(lat, rel=1e-12)
        assert pred.high_ms[i] - pred.latency_ms[i] == pytest.approx(1.959963984540054 * np.sqrt(var), rel=1e-9)
        assert pred.low_ms[i] < pred.latency_ms[i] < pred.high_ms[i]
    for dtype in (np.int16, np.int32, np.int64, np.uint8):
        np.testing.assert_array_equal(dense.predict(np.asarray(archs, dtype=dtype)).latency_ms, pred.latency_ms)
    np.testing.assert_allclose(dense.predict_latency(np.asarray(archs)), pred.latency_ms, rtol=1e-12)
    table.close()


def test_predict_every_batch_size_and_bad_row_position():
    """The kernels sum 2 or 4 archs per parallel step: every N and every position of a bad row must work."""
    rng = np.random.default_rng(11)
    counts = np.array([3, 2, 4, 1, 3])
    lat = rng.uniform(0.1, 1.0, (5, 4))
    lat[np.arange(4)[None, :] >= counts[:, None]] = np.nan
    dense = DenseTable(space="toy", resolution=32, fixed_ms=0.5, fixed_var_ms2=0.0, latency_ms=lat,
                       var_ms2=np.where(np.isnan(lat), np.nan, 0.01), num_choices=counts)
    for n in range(1, 10):
        archs = (rng.random((n, 5)) * counts).astype(np.int8)
        explicit = 0.5 + lat[np.arange(5), archs].sum(axis=1)
        np.testing.assert_allclose(dense.predict(archs).latency_ms, explicit, rtol=1e-12)
        out = np.full(n, -1.0)
        assert dense.predict_latency(archs, out=out) is out
        np.testing.assert_allclose(out, explicit, rtol=1e-12)
        for bad_row in range(n):
            broken = archs.copy()
            broken[bad_row, 3] = 1                   # layer 3 has a single choice
            for predict in (dense.predict, dense.predict_latency):
                with pytest.raises(ArchError, match=rf"arch {bad_row}: layer 3: choice 1"):
                    predict(broken)
    with pytest.raises(ArchError, match="out must be"):
        dense.predict_latency(np.zeros((3, 5), np.int8), out=np.empty(2))


def test_dense_table_rejects_arch_outside_table():
    lat = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, np.nan]])
    dense = DenseTable(space="toy", resolution=32, fixed_ms=1.0, fixed_var_ms2=0.0, latency_ms=lat,
                       var_ms2=np.where(np.isnan(lat), np.nan, 0.01), num_choices=np.array([3, 2]),
                       choice_names=(("a", "b", "zero"), ("a", "b")))
    assert dense.predict([[0, 1], [2, 0]]).latency_ms.tolist() == [4.0, 2.0]
    with pytest.raises(ArchError, match=r"arch 1: layer 1: choice 2 .* valid: 0=a, 1=b"):
        dense.predict([[0, 1], [0, 2]])
    with pytest.raises(ArchError, match="layer 0: choice -1"):
        dense.predict([[-1, 0]])
    with pytest.raises(ArchError, match=r"\[N, 2\]"):
        dense.predict([[0, 1, 0]])
    with pytest.raises(TableError, match="layer 1 choice 0 has no finite estimate"):
        DenseTable(space="toy", resolution=32, fixed_ms=0.0, fixed_var_ms2=0.0, latency_ms=np.array([[1.0], [np.nan]]),
                   var_ms2=np.zeros((2, 1)), num_choices=np.array([1, 1]))


def test_cli_predict_json_and_text(proxyless_table_db, tmp_path):
    space = get_space("proxyless")
    archs = [list(space.sample(np.random.default_rng(s))) for s in range(4)]
    f = tmp_path / "archs.json"
    f.write_text(json.dumps({"space": "proxyless", "archs": archs}))
    rows = json.loads(lutnas_cli("predict", "--db", str(proxyless_table_db), "--archs", str(f), "--json").stdout)
    want = open_table(proxyless_table_db).dense().predict(np.asarray(archs))
    assert [r["arch"] for r in rows] == archs
    assert [r["latency_ms"] for r in rows] == pytest.approx(want.latency_ms.tolist(), rel=1e-12)
    assert all(r["low_ms"] < r["latency_ms"] < r["high_ms"] for r in rows)
    text = lutnas_cli("predict", "--db", str(proxyless_table_db), "--archs", str(f)).stdout
    assert f"{rows[0]['latency_ms']:.4f}" in text


def test_cli_predict_bad_archs(proxyless_table_db, tmp_path):
    bad = tmp_path / "bad.json"
    arch = [0] * 21
    arch[4] = 6                                       # layer 4 changes stride/width: no 'zero' (6 choices)
    bad.write_text(json.dumps({"space": "proxyless", "archs": [arch]}))
    proc = lutnas_cli("predict", "--db", str(proxyless_table_db), "--archs", str(bad), check=False)
    assert proc.returncode == 2 and "layer 4" in proc.stderr and "Traceback" not in proc.stderr
    other = tmp_path / "fbnet.json"
    other.write_text(json.dumps({"space": "fbnet", "archs": [[0] * 22]}))
    proc = lutnas_cli("predict", "--db", str(proxyless_table_db), "--archs", str(other), check=False)
    assert proc.returncode == 2 and "'fbnet'" in proc.stderr and "'proxyless'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- compatibility -------------------------------------------------------------------------------------
def test_mismatched_table_is_refused_with_the_field_named(proxyless_table_db):
    table = open_table(proxyless_table_db)
    fp = dict(table.meta.fingerprint)
    assert table.check_compatible(space="proxyless", resolution=32, target="x86", runtime="onnxruntime",
                                  threads=1, fingerprint=fp) == []
    cases = [({"space": "fbnet"}, "space"), ({"resolution": 64}, "resolution"), ({"target": "arm64"}, "target"),
             ({"runtime": "tvm"}, "runtime"),
             ({"fingerprint": {**fp, "cpu_model": "Other CPU"}}, "cpu_model"),
             ({"fingerprint": {**fp, "versions": {**fp["versions"], "tvm": "0.1"}}}, "tvm version")]
    for kwargs, field in cases:
        with pytest.raises(TableError, match=field) as err:
            table.check_compatible(**kwargs)
        assert "--allow-mismatch" in str(err.value)
        allowed = table.check_compatible(allow_mismatch=True, **kwargs)
        assert len(allowed) == 1 and field in allowed[0]
    table.close()


# -- store: corrupt files, schema migration --------------------------------------------------------
def test_corrupt_and_foreign_databases_are_refused(tmp_path, proxyless_table_db):
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(TableError, match="junk.db: not a lutnas latency database"):
        open_table(junk)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(TableError, match="not a lutnas latency database"):
        open_table(foreign)
    with pytest.raises(TableError, match="not a lutnas latency database"):
        Store(foreign, create=True)                    # never written into either
    with pytest.raises(TableError, match="no such latency database"):
        open_table(tmp_path / "absent.db")
    truncated = tmp_path / "truncated.db"
    data = proxyless_table_db.read_bytes()            # this test's own copy: no connection is open on it
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(TableError, match="truncated.db"):
        open_table(truncated).dense()
    proc = lutnas_cli("predict", "--db", str(junk), "--archs", str(junk), check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a lutnas latency database" in proc.stderr


def test_several_tables_need_an_id(proxyless_table_db, tmp_path):
    db = tmp_path / "two.db"
    copy_database(proxyless_table_db, db)
    doc = tmp_path / "t.json"
    export_table(db, None, "json", doc)
    data = json.loads(doc.read_text())
    data["meta"]["options"]["repeats"] = 99                    # another identity -> another table id
    from lutnas.latency_tables.store import TableMeta, table_id_of

    data["meta"]["id"] = table_id_of(TableMeta(**data["meta"]).identity())
    doc.write_text(json.dumps(data))
    import_table(doc, db)
    with pytest.raises(TableError, match="holds 2 tables"):
        open_table(db)
    assert open_table(db, data["meta"]["id"][:6]).id == data["meta"]["id"]


def test_old_schema_fixture_opens_and_migrates(tmp_path):
    v1 = FIXTURES / "lutnas_v1.db"
    before = open_table(v1)                           # read-only: no migration, no write
    assert before.store.version == 1 and before.meta.space == "proxyless"
    dense_v1 = before.dense()
    before.close()
    copy = tmp_path / "v1.db"
    shutil.copy(v1, copy)
    store = Store(copy, create=True)                  # opening for writing migrates in place
    assert store.version == SCHEMA_VERSION == 3
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 3
    cols = [r[1] for r in store.conn.execute("PRAGMA table_info(passes)")]
    assert "runner" in cols
    objects = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"kernel_tables", "kernels", "kernel_passes", "kernel_models", "kernel_model_passes"} <= objects
    store.set_attachment(store.table_ids()[0], "note", {"x": 1})
    store.close()
    after = open_table(copy)
    assert after.store.version == 3 and after.store.attachment(after.id, "note") == {"x": 1}
    np.testing.assert_array_equal(after.dense().latency_ms, dense_v1.latency_ms)
    assert (FIXTURES / "lutnas_v1.db").read_bytes() == v1.read_bytes()


# -- profiling: TVM path, kill -9 and resume ----------------------------------------------------------
def test_profile_tvm_blocks_and_resume(tmp_path, lutnas_cache):
    from lutnas.latency_tables.profile import ProfileSettings, profile_table

    db = tmp_path / "tvm.db"
    kw = {"threads": 1, "policy": StabilityPolicy(max_passes=1), "progress": False,
          "work_dir": lutnas_cache / "blocks", "settings": ProfileSettings(repeats=3, min_repeat_ms=1.0), "limit": 3}
    first = profile_table("proxyless", 32, "x86", "tvm", db, **kw)
    assert (first.entries, first.measured, first.passes, first.skipped) == (69, 3, 3, 0)
    table = open_table(db)
    assert table.meta.runtime == "tvm" and table.meta.fingerprint["runtime"] == "tvm"
    done = [d for d in table.entries() if d.passes]
    assert [d.entry.role for d in done] == ["stem", "fixed", "head"]
    assert all(p.measurement.inner_loops >= 1 and len(p.measurement.samples_ms) == 3 for d in done for p in d.passes)
    with pytest.raises(TableError, match="lacks measurements of 66 block"):
        table.dense()
    table.close()
    again = profile_table("proxyless", 32, "x86", "tvm", db, **kw)
    assert (again.table_id, again.measured, again.skipped, again.passes) == (first.table_id, 0, 3, 0)
    more = profile_table("proxyless", 32, "x86", "tvm", db, **{**kw, "remeasure": True})
    assert (more.measured, more.passes) == (3, 3)
    assert sorted(p.pass_no for p in open_table(db).store.passes(first.table_id)) == [1, 1, 1, 2, 2, 2]


def test_profile_says_what_an_unstable_table_supports(proxyless_table_db, tmp_path):
    """Half the entries' two passes disagree by 30% (a machine that changed speed between rounds):
    they count as unstable and the table is said to support about +-30%, not +-5%."""
    from lutnas.latency_tables.repeatability import table_repeatability
    from lutnas.profiler.measurement import Measurement

    source = open_table(proxyless_table_db)
    db = tmp_path / "drifted.db"
    with Store(db, create=True) as store:
        store.ensure_table(source.meta)
        ids = store.ensure_entries(source.id, [(d.entry.key, d.entry.spec, d.entry.input_shape, d.entry.role)
                                               for d in source.entries()])
        for i, key in enumerate(ids):
            for scale in (1.0, 1.3 if i % 2 else 1.01):
                samples = tuple(scale * (1.0 + 0.001 * j) for j in range(5))
                store.add_pass(ids[key], Measurement(samples, 1, 0, 1, 0.0, 1.0, 1, "onnxruntime", key))
    table = open_table(db)
    rep = table_repeatability(table)
    assert (rep.entries, rep.unstable) == (len(ids), len(ids) // 2)
    assert rep.retest.items == len(ids) and rep.supported == pytest.approx(0.3, rel=1e-6)
    lines = rep.lines()
    assert lines[0].startswith("repeatability: entries across passes: median |Δ| ")
    assert f"{len(ids) // 2} of {len(ids)} entries stayed unstable" in lines[1] and "about ±30%" in lines[1]
    assert "lutnas doctor" in lines[1]
    calm = replace(rep, unstable=0, retest=replace(rep.retest, p95=0.02))
    assert len(calm.lines()) == 1                               # nothing to warn about
    settled = replace(rep, unstable=0).lines()[1]              # stable at the end, yet their passes moved
    assert "stayed unstable" not in settled and "all " in settled and "about ±30%" in settled


def _pass_rows(db: Path) -> dict[int, tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return {r[0]: r[1:] for r in c.execute("SELECT id, entry_id, pass_no, measurement FROM passes")}


def test_kill9_during_profile_then_resume_loses_nothing(tmp_path, lutnas_cache, proxyless_table_db):
    db = tmp_path / "killed.db"
    args = ["-m", "lutnas", "profile", "--space", "proxyless", "--resolution", "32", "--runtime", "onnxruntime",
            "--db", str(db), "--repeats", "5", "--min-repeat-ms", "8", "--measure-mode", "isolated"]
    env = {**os.environ, "LUTNAS_CACHE": str(lutnas_cache)}   # reuses the fixture's ONNX exports
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                if len(_pass_rows(db)) >= 12:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    assert proc.poll() is None, f"profile ended before it could be killed: {proc.communicate()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _pass_rows(db)
    assert len(before) >= 12
    table = open_table(db)
    finished = {d.entry.id for d in table.entries() if d.passes and not verdict(d.measurements).needs_more}
    entries = len(table.entries())
    table.close()

    out = lutnas_cli(*args[2:], env={"LUTNAS_CACHE": str(lutnas_cache)}).stdout
    assert f"skipped {len(finished)}" in out
    assert "repeatability: entries across passes: " in out   # profile ends with what its entries repeated
    after = _pass_rows(db)
    assert all(after[i] == row for i, row in before.items())          # nothing lost or rewritten
    new_entries = {row[0] for i, row in after.items() if i not in before}
    assert not new_entries & finished                                 # finished entries not re-measured
    table = open_table(db)
    data = table.entries()
    assert len(data) == entries == 69 and all(d.passes for d in data)
    assert all(not verdict(d.measurements, DEFAULT_POLICY).needs_more for d in data)
    for d in data:                                                    # passes numbered 1..k, no gaps
        assert [p.pass_no for p in d.passes] == list(range(1, len(d.passes) + 1))
    table.dense()
    table.close()


# -- formats -------------------------------------------------------------------------------------------
def _ofa_style_predict(lut: dict, space, arch, image_size: int) -> float:
    """What OFA's ProxylessNASLatencyTable does with a net config: build keys, sum lut[key]['mean']."""
    def shape(*dims):
        return "x".join(str(d) for d in dims)

    specs = [b.spec for b in space.blocks(arch, image_size)]
    stem, *mbconvs, head = specs
    fsize = (image_size + 1) // 2
    total = lut[f"Conv-input:{shape(image_size, image_size, 3)}-output:{shape(fsize, fsize, stem.out_ch)}"]["mean"]
    for s in mbconvs:
        out = (fsize - 1) // s.stride + 1
        idskip = 1 if s.stride == 1 and s.in_ch == s.out_ch else 0
        key = (f"expanded_conv-input:{shape(fsize, fsize, s.in_ch)}-output:{shape(out, out, s.out_ch)}"
               f"-expand:{int(s.expand)}-kernel:{s.kernel}-stride:{s.stride}-idskip:{idskip}")
        total += lut[key]["mean"]
        fsize = out
    total += lut[f"Conv_1-input:{shape(fsize, fsize, head.in_ch)}-output:{shape(fsize, fsize, head.out_ch)}"]["mean"]
    total += lut[f"Logits-input:{shape(fsize, fsize, head.out_ch)}-output:{head.classes}"]["mean"]
    return total


def test_ofa_yaml_round_trip(proxyless_table_db, tmp_path):
    import yaml

    out = tmp_path / "lut.yaml"
    export_table(proxyless_table_db, None, "ofa-yaml", out)
    lut = yaml.safe_load(out.read_text())
    assert all(set(v) == {"mean", "var", "count"} for v in lut.values())
    space = get_space("proxyless")
    dense = open_table(proxyless_table_db).dense()
    rng = np.random.default_rng(5)
    for _ in range(20):                                       # their key building reads our table
        arch = space.sample(rng)
        assert _ofa_style_predict(lut, space, arch, 32) == pytest.approx(
            float(dense.predict(np.asarray([arch])).latency_ms[0]), rel=1e-12)
    db2 = tmp_path / "imported.db"
    res = import_table(out, db2, space="proxyless", resolution=32, target="x86", runtime="onnxruntime")
    assert (res.entries, res.skipped, res.missing) == (69, [], [])
    back = open_table(db2).dense()
    np.testing.assert_allclose(back.latency_ms, dense.latency_ms, rtol=1e-12)
    assert back.fixed_ms == pytest.approx(dense.fixed_ms, rel=1e-12)
    assert np.all(back.var_ms2[np.isfinite(back.var_ms2)] >= 0)
    # a published-style file with keys we have no block for, and blocks it lacks
    lut["expanded_conv-input:7x7x999-output:7x7x999-expand:6-kernel:3-stride:1-idskip:1"] = {"mean": 1.0}
    dropped = next(k for k in lut if k.startswith("expanded_conv-input:16x16x16"))
    del lut[dropped]
    partial = tmp_path / "partial.yaml"
    partial.write_text(yaml.safe_dump(lut))
    res = lutnas_cli("table", "import", str(partial), "--db", str(tmp_path / "p.db"), "--space", "proxyless",
                     "--resolution", "32").stdout
    assert "skipped 1 key(s)" in res and "7x7x999" in res
    with pytest.raises(TableError, match="lacks measurements of 1 block"):
        open_table(tmp_path / "p.db").dense()
    with pytest.raises(TableError, match="fbnet"):
        import_table(partial, tmp_path / "f.db", space="fbnet", resolution=32)


def test_json_and_csv_export_round_trip(proxyless_table_db, tmp_path):
    import csv

    doc = tmp_path / "t.json"
    lutnas_cli("table", "export", "--db", str(proxyless_table_db), "--format", "json", "-o", str(doc))
    data = json.loads(doc.read_text())
    assert data["format"] == "lutnas-table" and data["meta"]["fingerprint"]["fingerprint_id"]
    assert all(p["samples_ms"] for e in data["entries"] for p in e["passes"])
    db2 = tmp_path / "copy.db"
    res = import_table(doc, db2)
    original = open_table(proxyless_table_db)
    assert res.table_id == original.id and res.passes == sum(len(d.passes) for d in original.entries())
    np.testing.assert_array_equal(open_table(db2).dense().latency_ms, original.dense().latency_ms)
    assert import_table(doc, db2).passes == 0                 # the same passes never land twice
    # the same table measured on another machine: refused, fields named
    other = json.loads(doc.read_text())
    fp = other["meta"]["fingerprint"]
    fp["cpu_model"] = "Some Other CPU"
    fp["fingerprint_id"] = other["meta"]["fingerprint_id"] = fingerprint_id(fp)
    from lutnas.latency_tables.store import TableMeta, table_id_of

    other["meta"]["id"] = table_id_of(TableMeta(**other["meta"]).identity())
    doc2 = tmp_path / "other.json"
    doc2.write_text(json.dumps(other))
    with pytest.raises(TableError, match="refusing to merge.*cpu_model"):
        import_table(doc2, db2, into=original.id)
    proc = lutnas_cli("table", "import", str(doc2), "--db", str(db2), "--into", original.id[:6], check=False)
    assert proc.returncode == 2 and "cpu_model" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    edited = json.loads(doc.read_text())
    edited["meta"]["resolution"] = 64
    doc3 = tmp_path / "edited.json"
    doc3.write_text(json.dumps(edited))
    with pytest.raises(TableError, match="does not match its metadata"):
        import_table(doc3, tmp_path / "e.db")
    csv_path = tmp_path / "t.csv"
    export_table(proxyless_table_db, None, "csv", csv_path)
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 69 and {"key", "median", "p10", "p90", "boot_low", "boot_high", "var"} <= set(rows[0])
    listing = table_summaries(db2)
    assert listing[0]["measured"] == listing[0]["entries"] == 69
    original.close()


class _DisconnectingRunner(LocalRunner):
    """A real LocalRunner whose device goes away after `survive` measurements (a board unplugged)."""

    def __init__(self, survive: int) -> None:
        super().__init__("x86", "onnxruntime", 1)
        self.left = survive

    def measure(self, job):
        from lutnas.errors import DeviceError

        if self.left == 0:
            raise DeviceError("board 10.0.0.7:9090 disconnected")
        self.left -= 1
        return super().measure(job)


def test_device_error_mid_profile_keeps_what_was_measured(tmp_path, lutnas_cache, proxyless_table_db):
    from lutnas.errors import DeviceError
    from lutnas.latency_tables.profile import ProfileSettings, profile_table

    db = tmp_path / "dev.db"
    kw = {"policy": StabilityPolicy(max_passes=1), "progress": False, "work_dir": lutnas_cache / "blocks",
          "settings": ProfileSettings(repeats=2, min_repeat_ms=0.5)}
    with pytest.raises(DeviceError, match="disconnected"):
        profile_table("proxyless", 32, "x86", "onnxruntime", db, runner=_DisconnectingRunner(5), **kw)
    assert len(_pass_rows(db)) == 5
    done = profile_table("proxyless", 32, "x86", "onnxruntime", db, runner=_DisconnectingRunner(10_000), **kw)
    assert (done.skipped, done.measured, done.entries) == (5, 64, 69)
    assert len(_pass_rows(db)) == 69


def test_ofa_mbv3_keys_follow_their_format_and_round_trip():
    from lutnas.latency_tables import ofa_yaml

    layout = get_space("ofa-mbv3").layer_table(128)
    blocks = list(layout.unique_blocks().values())
    keys = {b.key: ofa_yaml.block_keys(b, "mbv3") for b in blocks}
    assert keys["mbconv_k7_e6_s1_i160_o160_g1_se_hswish@160x4x4"] == [
        "expanded_conv-input:4x4x160-output:4x4x160-expand:960-kernel:7-stride:1-idskip:1-se:1-hs:1"]
    assert keys["conv_k3_e1_s2_i3_o16_g1_hswish@3x128x128"] == ["Conv-input:128x128x3-output:64x64x16"]
    assert [k.split("-")[0] for k in keys[layout.fixed[-1].key]] == ["Conv_1", "AvgPool2D", "Conv_2", "Logits"]
    values = {b.key: {"mean": 0.5 + i, "var": 0.01 * i, "count": 10} for i, b in enumerate(blocks)}
    lut = ofa_yaml.to_yaml_dict(blocks, values, "mbv3")
    assert len(lut) == len(blocks) + 3
    found, missing, unused = ofa_yaml.from_yaml_dict(lut, blocks, "mbv3")
    assert (missing, unused) == ([], [])
    assert all(found[k]["mean"] == v["mean"] and found[k]["var"] == v["var"] for k, v in values.items())
    with pytest.raises(TableError, match="fbnet"):
        ofa_yaml.style_for("fbnet")


def _footprint_world(seed: int = 3):
    """A toy table (5 layers x 3 choices, choice 2 of layer 4 a skip) with weights per cell, and
    networks whose latency follows `1.4 x blocks + 0.05 ms/MB x weights - 0.3 ms` exactly."""
    rng = np.random.default_rng(seed)
    hot = rng.uniform(0.1, 0.6, (5, 3))
    hot[4, 2] = 0.0
    mb = rng.uniform(0.5, 3.0, (5, 3))
    mb[4, 2] = 0.0
    dense = DenseTable(space="toy", resolution=32, fixed_ms=0.4, fixed_var_ms2=0.0, latency_ms=hot,
                       var_ms2=np.full((5, 3), 0.01), num_choices=np.full(5, 3))
    archs = [tuple(int(c) for c in rng.integers(0, 3, 5)) for _ in range(10)]
    rows = np.arange(5)
    sums = np.array([0.4 + hot[rows, a].sum() for a in archs])
    weights = np.array([2.0 + mb[rows, a].sum() for a in archs])
    return dense, mb, archs, sums, weights, 1.4 * sums + 0.05 * weights - 0.3


def test_footprint_fit_recovers_the_law_and_refuses_what_it_cannot_fit():
    """`fit_footprint` finds a law the networks follow (0 error, also left out); too few networks,
    weights that do not spread, or a negative per-MB slope give no fit (the table keeps per-cell
    factors)."""
    from lutnas.latency_tables.footprint import fit_footprint

    _, _, _, sums, weights, net = _footprint_world()
    fit = fit_footprint(sums, weights, net)
    assert fit is not None
    assert (fit.per_block, fit.per_mb, fit.intercept_ms) == pytest.approx((1.4, 0.05, -0.3))
    assert fit.rms < 1e-9 and fit.rms_left_out < 1e-9 and fit.mb_range == (weights.min(), weights.max())
    assert "us/MB" in fit.phrase() and "left out" in fit.phrase()
    assert fit_footprint(sums[:5], weights[:5], net[:5]) is None
    assert fit_footprint(sums, np.full(10, 8.0) + np.arange(10) * 0.01, net) is None
    assert fit_footprint(sums, weights, 1.4 * sums - 0.05 * weights + 1.0) is None


def test_a_footprint_check_uses_the_fit_only_where_it_predicts_better_left_out():
    from lutnas.latency_tables.footprint import FootprintCheck, FootprintFit

    fit = FootprintFit(1.2, 0.05, -0.1, 0.02, 0.03, (8.0, 20.0))
    weights = (np.zeros((2, 2)), 1.0)
    assert FootprintCheck(fit, weights, 0.05, 0.03).used
    assert "the fit is used" in FootprintCheck(fit, weights, 0.05, 0.03).line()
    assert not FootprintCheck(fit, weights, 0.03, 0.05).used
    assert "the fit is not used" in FootprintCheck(fit, weights, 0.03, 0.05).line()
    assert not FootprintCheck(fit, weights, float("nan"), float("nan")).used   # nothing could be left out


def test_a_context_with_weights_predicts_by_the_footprint_fit():
    """Given the cells' weights, the context's networks fit the footprint law and the table predicts
    any arch (not only the covering ones) as `per_block x blocks + per_mb x weights + intercept`;
    without weights (a context measured before they were kept) it keeps the per-cell factors."""
    from lutnas.latency_tables.network_context import NetworkContext, apply_context, context_factors

    dense, mb, archs, sums, _, net = _footprint_world()
    ctx = NetworkContext(tuple(archs), tuple(net), tuple(net / sums), {}, 0.0, {"any": 1.0})
    factors = context_factors(dense, ctx, (mb, 2.0))
    assert factors.fit is not None and "us/MB" in factors.line()
    table = apply_context(dense, factors)
    rows = np.arange(5)
    others = np.array([[0, 1, 2, 0, 2], [2, 2, 2, 2, 2], [1, 0, 1, 0, 1]])
    want = [1.4 * (0.4 + dense.latency_ms[rows, a].sum()) + 0.05 * (2.0 + mb[rows, a].sum()) - 0.3 for a in others]
    np.testing.assert_allclose(table.predict_latency(others), want, rtol=1e-9)
    assert table.latency_ms[4, 2] == 0.0                      # a skip still costs nothing
    np.testing.assert_allclose(table.var_ms2, dense.var_ms2 * 1.4 ** 2)
    assert factors.fit_left_out is None and factors.per_cell_left_out > factors.fit.rms_left_out
    plain = context_factors(dense, ctx, None)
    assert plain.fit is None and plain.extra_ms is None and "per cell" in plain.line()
    noisy = 1.3 * sums * np.random.default_rng(6).uniform(0.9, 1.1, len(net))   # no footprint effect, noise
    weighed = context_factors(dense, NetworkContext(tuple(archs), tuple(noisy), tuple(noisy / sums), {}, 0.0,
                                                    {"any": 1.0}), (mb, 2.0))
    assert weighed.fit is None and weighed.fit_left_out > weighed.per_cell_left_out   # left out, the fit loses
    assert "per cell" in weighed.line() and "the footprint fit's" in weighed.line()


def test_footprint_archs_span_the_space_from_lightest_to_heaviest():
    """The extra context networks: valid archs, the first each layer's lightest choice, the last the
    heaviest (by the blocks' torch weights), on a space with skips and on OFA's depth rule."""
    from lutnas.latency_tables.footprint import cell_mb, footprint_archs, weight_mb

    for name in ("proxyless", "ofa-mbv3"):
        space = get_space(name)
        layout = space.layer_table(space.resolutions[0])
        cells, fixed = cell_mb(layout, weight_mb(layout.unique_blocks().values()))
        assert fixed > 0 and np.nanmin(cells) >= 0
        archs = footprint_archs(space, cells, 4, 0)
        assert 2 <= len(archs) <= 4 and all(space.validate(a) == a for a in archs)
        rows = np.arange(cells.shape[0])
        weights = [cells[rows, a].sum() for a in archs]
        drawn = space.sample_many(np.random.default_rng(1), 500)
        sampled = np.nansum(cells[rows, drawn], axis=1)
        assert weights[0] <= sampled.min() and weights[-1] >= sampled.max(), (name, weights)
