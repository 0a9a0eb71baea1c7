"""profiler: real TVM / onnxruntime timing of a tiny conv net, records, stability, fingerprint, workers."""

from __future__ import annotations

import os

os.environ.setdefault("TVM_NUM_THREADS", "1")  # before anything starts TVM's thread pool

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lutnas.errors import DeviceError, LutnasError, TableError
from lutnas.profiler import (
    LocalRunner,
    MeasureJob,
    Measurement,
    RoundHooks,
    Runner,
    StabilityPolicy,
    fingerprint,
    fingerprint_id,
    measure_in_rounds,
    measure_stable,
    verdict,
)
from lutnas.profiler.harness import calibrate
from lutnas.profiler.stability import assess, check_pass

THREADS = int(os.environ["TVM_NUM_THREADS"])
SHAPE = (1, 3, 16, 16)
MIN_MS = 2.0


def _tiny_net(channels: int = 8):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, channels, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(channels, 4, 1)
    ).eval()


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    from lutnas.lowering.onnx_io import export_onnx

    return export_onnx(_tiny_net(), SHAPE, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(scope="module")
def x86():
    from lutnas.lowering.targets import get_target

    return get_target("x86")


@pytest.fixture(scope="module")
def tiny_lib(tiny_onnx, x86, tmp_path_factory) -> Path:
    from lutnas.lowering.tvm_build import build

    return build(tiny_onnx, SHAPE, x86).export_library(tmp_path_factory.mktemp("lib") / "tiny.so")


def _job(runtime: str, **kw) -> MeasureJob:
    base = {"key": "tiny", "input_shape": SHAPE, "runtime": runtime, "threads": THREADS, "repeats": 4,
            "min_repeat_ms": MIN_MS, "warmup": 1}
    base.update(kw)
    return MeasureJob(**base)


def _fake(samples, **kw) -> Measurement:
    base = {"inner_loops": 1, "warmup": 0, "threads": 1, "started_at": 0.0, "ended_at": 1.0, "pass_no": 1,
            "runtime": "tvm"}
    base.update(kw)
    return Measurement(samples_ms=tuple(samples), **base)


# -- real timing --------------------------------------------------------------------------------------

def test_tvm_measurement_has_requested_samples(tiny_lib, x86):
    runner = LocalRunner(x86, "tvm", THREADS)
    assert isinstance(runner, Runner)
    m = runner.measure(_job("tvm", library_path=tiny_lib))
    assert m.n == 4 and m.inner_loops >= 1 and all(s > 0 for s in m.samples_ms)
    assert m.runtime == "tvm" and m.threads == THREADS and m.key == "tiny"
    assert m.warmup >= 1 and m.ended_at >= m.started_at
    # calibration: each sample covers inner_loops calls lasting about min_repeat_ms; loosely, since a
    # neighbour (the other xdist worker) can slow calibration and not the samples (the exact rule is
    # tested on a scripted clock below)
    assert m.median_ms * m.inner_loops >= 0.1 * MIN_MS


def test_ort_measurement_has_requested_samples(tiny_onnx, x86):
    runner = LocalRunner(x86, "onnxruntime", THREADS)
    m = runner.measure(_job("onnxruntime", onnx_path=tiny_onnx, repeats=5))
    assert m.n == 5 and m.inner_loops > 1 and all(s > 0 for s in m.samples_ms)
    assert m.runtime == "onnxruntime"
    assert m.median_ms * m.inner_loops >= 0.1 * MIN_MS


def _scripted_clock(per_call_ms: float, slow_blocks: set[int]) -> tuple[list[int], Callable[[int], float]]:
    """A block timer whose n-th block (0-based) in `slow_blocks` runs 5x slow; records each block's size."""
    sizes: list[int] = []

    def block_ms(number: int) -> float:
        sizes.append(number)
        return number * per_call_ms * (5.0 if len(sizes) - 1 in slow_blocks else 1.0)
    return sizes, block_ms


def test_calibration_reaches_target_and_ignores_one_slow_block() -> None:
    sizes, steady = _scripted_clock(0.01, set())
    number, spent = calibrate(steady, 2.0)
    assert number * 0.01 >= 2.0 and spent == sum(sizes)
    assert number * 0.01 < 2.0 * 1.2  # grown by the shortfall, not overshot
    # the block that first reached the target (block 1 here) was slow: its re-time decides
    sizes, bursty = _scripted_clock(0.01, {1})
    number_bursty, _ = calibrate(bursty, 2.0)
    assert sizes[1] == sizes[2] and sizes[1] * 0.01 < 2.0  # re-timed, fell short, grew on
    assert number_bursty * 0.01 >= 2.0


def test_a_settled_sample_leaves_out_the_call_that_meets_cold_caches() -> None:
    """The first call of a sample (caches as the previous network left them) is run, never timed:
    a sample of four calls after a 100 ms cold call (25 ms a call if it were timed) reads the warm calls' time."""
    import time as _time

    from lutnas.profiler.harness import settled_sample_ms

    calls = 0

    def call() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            _time.sleep(0.1)

    ms = settled_sample_ms(call, 4)
    assert calls == 5 and ms < 10.0


def test_runner_refuses_jobs_it_does_not_describe(tiny_lib, x86):
    runner = LocalRunner(x86, "tvm", THREADS)
    with pytest.raises(DeviceError, match="this runner measures"):
        runner.measure(_job("tvm", library_path=tiny_lib, threads=THREADS + 1))
    with pytest.raises(DeviceError, match="does not exist"):
        runner.measure(_job("tvm", library_path=tiny_lib.with_name("missing.so")))


def test_every_runner_implements_the_protocol(tiny_onnx, tiny_lib, x86):
    """Callers use the protocol only (no probing): every runner has all of it, and the local one's
    `measure_many` and `run_once` really measure and run."""
    import numpy as np

    from lutnas.profiler.rpc import RPCRunner, TrackerRunner

    local = LocalRunner(x86, "onnxruntime", THREADS)
    remote = [RPCRunner("127.0.0.1", 9, x86, threads=THREADS), TrackerRunner("127.0.0.1", 9, "k", x86)]
    assert all(isinstance(r, Runner) for r in (local, *remote))
    assert (local.name, local.where, remote[0].where) == ("LocalRunner", "local", "127.0.0.1:9")
    jobs = [_job("onnxruntime", onnx_path=tiny_onnx, key=k, repeats=2) for k in ("a", "b")]
    seen = []
    out = local.measure_many(jobs, lambda job, m: seen.append((job.key, m.key)))
    assert seen == [("a", "a"), ("b", "b")] and [m.n for m in out] == [2, 2]
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    tvm_runner = LocalRunner(x86, "tvm", THREADS)
    y = tvm_runner.run_once(_job("tvm", library_path=tiny_lib), x)
    np.testing.assert_allclose(y, local.run_once(jobs[0], x), rtol=1e-4, atol=1e-5)
    assert y.shape == (1, 4, 16, 16)


def test_measure_stable_keeps_every_pass(tiny_onnx, x86):
    runner = LocalRunner(x86, "onnxruntime", THREADS)
    calls = []
    policy = StabilityPolicy(min_passes=2, max_passes=3)
    res = measure_stable(runner, _job("onnxruntime", onnx_path=tiny_onnx, repeats=3), policy,
                         between=calls.append)
    assert 2 <= len(res.passes) <= 3
    assert [p.pass_no for p in res.passes] == list(range(1, len(res.passes) + 1))
    assert calls == list(range(2, len(res.passes) + 1))  # called before every later pass
    assert res.verdict.median_ms > 0


class _ReversedFarm:
    """A real local runner behind a farm's interface: `measure_many` delivers results in reverse order,
    as boards finishing in any order would."""

    name = "ReversedFarm"
    interleaves = False

    def __init__(self, inner):
        self.inner = inner
        self.threads = inner.threads

    def measure(self, job):
        return self.inner.measure(job)

    def sampler(self, job):
        return None

    def holding(self):
        from contextlib import nullcontext

        return nullcontext()

    def describe(self):
        return self.inner.describe()

    def measure_many(self, jobs, on_result=None):
        out = [self.inner.measure(j) for j in jobs]
        for job, m in reversed(list(zip(jobs, out))):
            on_result(job, m)
        return out


@pytest.mark.parametrize("farm", [False, True])
def test_measure_in_rounds_is_the_one_loop(tiny_onnx, x86, farm):
    """Rounds over the jobs that still need passes, every pass kept, numbered and stamped with its
    round; boundaries before round 1 and after every round; a farm's out-of-order results land on
    their own jobs; `prior` passes count toward the verdict and `fresh` jobs take a pass regardless."""
    runner = LocalRunner(x86, "onnxruntime", THREADS)
    runner = _ReversedFarm(runner) if farm else runner
    jobs = [_job("onnxruntime", onnx_path=tiny_onnx, repeats=3, key=k) for k in ("a", "b", "c")]
    calm = _fake([1.0, 1.0, 1.0], key="c")
    events = []
    hooks = RoundHooks(at_boundary=lambda k: events.append(("boundary", k)),
                       on_pass=lambda i, m: events.append(("pass", jobs[i].key, m.pass_no, m.meta["round"])))
    policy = StabilityPolicy(cv_max=1e9, spread_max=1e9, drift_max=1e9, max_passes=5)   # nothing unstable
    passes = measure_in_rounds(runner, jobs, policy, prior=[[], [], [calm]], min_rounds=2, hooks=hooks)
    assert [len(p) for p in passes] == [2, 2, 2]          # a, b: two rounds; c: one prior + one more
    assert [m.key for m in passes[0]] == ["a", "a"] and [m.key for m in passes[1]] == ["b", "b"]
    assert passes[2][0] is calm and passes[2][1].key == "c" and passes[2][1].pass_no == 2
    assert [m.meta["round"] for m in passes[0]] == [1, 2] and passes[2][1].meta["round"] == 1
    boundaries = [e[1] for e in events if e[0] == "boundary"]
    assert boundaries == [0, 1, 2]
    assert events.index(("boundary", 1)) > max(i for i, e in enumerate(events) if e[0] == "pass" and e[3] == 1)
    again = measure_in_rounds(runner, jobs[2:], policy, prior=[[calm]], fresh={0})
    assert len(again[0]) == 2                             # fresh: one pass although the verdict was settled


@pytest.mark.parametrize("runtime", ["onnxruntime", "tvm"])
def test_measure_interleaved_shares_time_windows(tiny_onnx, tiny_lib, x86, runtime):
    """Cycles of one sample of every job: one pass per job holding a sample per cycle, every sample of
    cycle k taken between boundaries k - 1 and k, the order rotated by one job per cycle, the device's
    timing lock held throughout; the pass is read back as its two halves for test-retest."""
    from lutnas.latency_tables.repeatability import pass_values
    from lutnas.profiler.rounds import measure_interleaved
    from lutnas.profiler.timing_lock import LOCAL, is_held

    runner = LocalRunner(x86, runtime, THREADS)
    where = {"onnx_path": tiny_onnx} if runtime == "onnxruntime" else {"library_path": tiny_lib}
    jobs = [_job(runtime, key=k, **where) for k in ("a", "b", "c")]
    at, held = [], []

    def boundary(k: int) -> None:
        at.append((k, time.time()))
        held.append(is_held(LOCAL))

    passes = measure_interleaved(runner, jobs, 4, hooks=RoundHooks(at_boundary=boundary))
    assert [k for k, _ in at] == [0, 1, 2, 3, 4] and all(held) and not is_held(LOCAL)
    for m, job in zip(passes, jobs):
        assert m.key == job.key and m.n == 4 and m.meta["interleaved"] and m.meta["sample_rounds"] == [1, 2, 3, 4]
        assert m.runtime == runtime and m.inner_loops >= 1 and m.warmup >= 4     # one untimed call per sample
        for cycle, t in zip(m.meta["sample_rounds"], m.meta["sample_at"]):
            assert at[cycle - 1][1] <= t <= at[cycle][1]
    first = [min(range(3), key=lambda i: passes[i].meta["sample_at"][c]) for c in range(4)]
    assert first == [0, 1, 2, 0]
    halves = pass_values(passes[:1], "median")
    assert len(halves) == 2 and min(passes[0].samples_ms) <= min(halves) <= max(halves) <= max(passes[0].samples_ms)


def test_a_farm_times_networks_in_rounds_of_passes(tiny_onnx, x86):
    """A runner that cannot hold one device for a series (a tracker farm: `sampler` is None) gets
    passes in rounds instead, at most `FARM_ROUNDS` of them."""
    from lutnas.latency_tables.networks import FARM_ROUNDS, time_networks

    farm = _ReversedFarm(LocalRunner(x86, "onnxruntime", THREADS))
    jobs = {(i,): _job("onnxruntime", onnx_path=tiny_onnx, key=f"n{i}", repeats=2) for i in range(2)}
    policy = StabilityPolicy(cv_max=1e9, spread_max=1e9, drift_max=1e9, max_passes=5)
    timed = time_networks(farm, jobs, policy, min_rounds=15, progress=False)
    assert [len(m.passes) for m in timed.values()] == [FARM_ROUNDS, FARM_ROUNDS]
    assert all(m.n == 2 and "interleaved" not in m.meta for t in timed.values() for m in t.passes)


# -- records --------------------------------------------------------------------------------------------

def test_measurement_json_round_trip():
    m = _fake([1.0, 2.0, 4.0], inner_loops=7, warmup=3, threads=2, pass_no=2, runtime="onnxruntime",
              key="k@3x16x16", meta={"target": "x86"}).flagged(True, "cv 50%")
    back = Measurement.from_json(m.to_json())
    assert back == m and back.meta == m.meta and back.unstable_reason == "cv 50%"
    assert back.median_ms == 2.0 and back.iqr_ms == pytest.approx(1.5)
    with pytest.raises(TableError):
        Measurement.from_json('{"format": 99}')
    with pytest.raises(TableError):
        Measurement.from_json('{"format": 1, "samples_ms": []}')


def test_measure_job_is_hashable_and_validated(tiny_onnx):
    a, b = _job("onnxruntime", onnx_path=tiny_onnx), _job("onnxruntime", onnx_path=str(tiny_onnx))
    assert a == b and hash(a) == hash(b) and MeasureJob.from_dict(a.to_dict()) == a
    with pytest.raises(LutnasError, match="needs a compiled library"):
        _job("tvm")
    with pytest.raises(LutnasError, match="unknown runtime"):
        _job("tflite", onnx_path=tiny_onnx)


# -- stability (pure data) ----------------------------------------------------------------------------

def test_instability_flags_noise_not_flat():
    flat = _fake([1.00, 1.01, 0.99, 1.00, 1.02, 0.995])
    noisy = _fake([1.0, 1.9, 1.1, 0.8, 2.4, 1.0])
    assert not assess(flat).unstable and check_pass(flat) == ""
    flagged = assess(noisy)
    assert flagged.unstable and "cv" in flagged.unstable_reason
    assert verdict([flat]).stable
    v = verdict([noisy])
    assert not v.stable and v.needs_more


def test_cross_pass_drift_and_pass_limit():
    policy = StabilityPolicy(drift_max=0.10, max_passes=3)
    p1, p2 = _fake([1.0, 1.0, 1.01]), _fake([1.3, 1.31, 1.3], pass_no=2)
    v = verdict([p1, p2], policy)
    assert not v.stable and "drift" in v.reason and v.needs_more
    v3 = verdict([p1, p2, _fake([1.3, 1.3, 1.3], pass_no=3)], policy)
    assert not v3.stable and not v3.needs_more  # max_passes reached: reported, not hidden
    # an unstable pass is ignored when the others agree
    assert verdict([_fake([1, 3, 1, 2]), p1, _fake([1.0, 1.02, 1.0])], policy).stable


# -- fingerprint --------------------------------------------------------------------------------------

def test_fingerprint_fields_and_stable_id(x86):
    a, b = fingerprint(x86, "tvm", 1), fingerprint(x86, "tvm", 1)
    for key in ("cpu_model", "cpu_logical", "cpu_physical", "memory_bytes", "os", "kernel", "python",
                "versions", "target_json", "threads", "host_cpu", "emulated", "load_avg", "fingerprint_id"):
        assert key in a
    assert {"tvm", "onnxruntime", "torch", "numpy", "numba"} <= set(a["versions"])
    assert a["fingerprint_id"] == b["fingerprint_id"] == fingerprint_id(a)
    assert a["emulated"] is False
    assert fingerprint(x86, "tvm", 2)["fingerprint_id"] != a["fingerprint_id"]
    assert fingerprint(x86, "onnxruntime", 1)["fingerprint_id"] != a["fingerprint_id"]
    assert fingerprint(x86, "tvm", 1, emulated=True)["fingerprint_id"] != a["fingerprint_id"]
    assert fingerprint({"kind": "llvm", "mtriple": "aarch64-linux-gnu"})["target_arch"] == "aarch64"


# -- workers --------------------------------------------------------------------------------------------

def test_compile_many_in_workers_then_cache(tiny_onnx, x86, tmp_path):
    import tvm

    from lutnas.profiler.workers import CompileJob, compile_many

    other = tmp_path / "other.onnx"
    from lutnas.lowering.onnx_io import export_onnx

    export_onnx(_tiny_net(channels=4), SHAPE, other)
    jobs = [CompileJob(tiny_onnx, SHAPE), CompileJob(other, SHAPE)]
    first = compile_many(jobs, x86, workers=2, cache_dir=tmp_path / "cache")
    assert [c.cached for c in first] == [False, False]
    assert first[0].library_path != first[1].library_path
    for c in first:
        tvm.runtime.load_module(str(c.library_path))  # loadable in the main process
    mtimes = [c.library_path.stat().st_mtime_ns for c in first]
    second = compile_many(jobs, x86, workers=2, cache_dir=tmp_path / "cache")
    assert [c.cached for c in second] == [True, True]
    assert [c.library_path.stat().st_mtime_ns for c in second] == mtimes
    # and the library measures
    m = LocalRunner(x86, "tvm", THREADS).measure(_job("tvm", library_path=second[1].library_path))
    assert m.n == 4


def test_cache_key_separates_pipelines_and_their_revisions(tiny_onnx, x86, monkeypatch):
    """A library built by an older revision of a pipeline name (lutnas-cpu was NCHW before it went
    channels-last) must not be served from the compile cache for the new one."""
    from lutnas.lowering import pipeline
    from lutnas.profiler.workers import cache_key

    keys = {name: cache_key(tiny_onnx, SHAPE, x86, name) for name in ("tvm-default", "lutnas-cpu", "lutnas-cpu-nchw")}
    assert len(set(keys.values())) == 3
    assert pipeline.pipeline_revision("lutnas-cpu+tuned:abc") == pipeline.pipeline_revision("lutnas-cpu") >= 2
    monkeypatch.setitem(pipeline._REVISIONS, "lutnas-cpu", 1)
    assert cache_key(tiny_onnx, SHAPE, x86, "lutnas-cpu") != keys["lutnas-cpu"]


def test_compile_failure_in_worker_is_a_lutnas_error(tmp_path, x86):
    import onnx
    from onnx import TensorProto, helper

    from lutnas.profiler.workers import CompileJob, compile_many

    node = helper.make_node("NoSuchOpAnywhere", ["input"], ["output"], domain="lutnas.test")
    graph = helper.make_graph([node], "bad",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(SHAPE))],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(SHAPE))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                     helper.make_opsetid("lutnas.test", 1)])
    bad = tmp_path / "bad.onnx"
    onnx.save(model, bad)
    t0 = time.monotonic()
    with pytest.raises(LutnasError, match="bad.onnx"):
        compile_many([CompileJob(bad, SHAPE)], x86, workers=1, cache_dir=tmp_path / "cache")
    assert time.monotonic() - t0 < 120  # prompt: no hang (generous, the machine is shared)
    assert not list((tmp_path / "cache").glob("*.so"))
