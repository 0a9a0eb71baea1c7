"""Run an exported artifact where it is meant to run: verify, check against the reference, time.

`run_artifact(dir, runner)` is `lutnas run`: the artifact's sha256 manifest is verified before any
file is loaded (`lowering.artifact.verify_artifact`), the library runs once on the stored reference
input and is compared with the stored PyTorch output (`max|y - y_ref| <= atol + rtol * max|y_ref|`,
the lowering stage's rule and tolerances, recorded in the manifest), then it is timed with the same
harness and stability policy as every table entry (`measure_stable`). The runner decides where:
`LocalRunner` here, `RPCRunner` / `TrackerRunner` on a board.

Only numpy and TVM's runtime are imported on this path (no torch, onnx or onnxruntime), so a
runtime-only host can run a cuda or arm64 artifact. `artifact_vs_onnxruntime` (the demo's last word)
also times the artifact's own ONNX file with onnxruntime, next to its library.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.errors import DeviceError, NumericsError
from lutnas.lowering.artifact import verify_artifact
from lutnas.profiler.measurement import MeasureJob
from lutnas.profiler.rounds import INTERLEAVED_CYCLES, measure_interleaved, measure_stable
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, StableResult

if TYPE_CHECKING:
    from lutnas.lowering.targets import TargetSpec
    from lutnas.profiler.runners import LocalRunner, Runner


@dataclass(frozen=True)
class OutputCheck:
    max_abs: float
    ref_scale: float
    rtol: float
    atol: float

    @property
    def bound(self) -> float:
        return self.atol + self.rtol * self.ref_scale

    @property
    def ok(self) -> bool:
        return self.max_abs <= self.bound

    def summary(self) -> str:
        verdict = "matches" if self.ok else "DIFFERS FROM"
        return (f"output {verdict} the reference: max abs err {self.max_abs:.2e} "
                f"(tolerance {self.atol:g} + {self.rtol:g} * {self.ref_scale:.3g} = {self.bound:.2e})")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "max_abs": self.max_abs, "bound": self.bound, "rtol": self.rtol,
                "atol": self.atol, "ref_scale": self.ref_scale}


@dataclass(frozen=True)
class RunReport:
    artifact: Path
    where: str
    check: OutputCheck
    result: StableResult
    fingerprint: dict[str, Any]

    @property
    def latency_ms(self) -> float:
        return self.result.verdict.median_ms

    def measured_dict(self) -> dict[str, Any]:
        """The manifest's `measured` record: pooled median, every pass, verdict, device."""
        fp = self.fingerprint
        return {
            "latency_ms": self.latency_ms,
            "stable": self.result.stable,
            "reason": self.result.verdict.reason,
            "passes": [m.to_dict() for m in self.result.passes],
            "where": self.where,
            "emulated": bool(fp.get("emulated")),
            "device": {k: fp.get(k) for k in ("cpu_model", "machine", "os", "emulated", "emulation_reason",
                                              "fingerprint_id", "threads", "remote")},
        }

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": str(self.artifact), "where": self.where, "check": self.check.to_dict(),
                "measured": self.measured_dict()}


def target_from_manifest(manifest: dict[str, Any]) -> TargetSpec:
    """The lowering TargetSpec the artifact was built for (its options read back from the JSON)."""
    from lutnas.lowering.targets import get_target, target_options

    name = manifest["target"]["name"]
    return get_target(name, **target_options(name, manifest["target"]["target"]))


def local_runner(spec: TargetSpec, threads: int = 1, policy: StabilityPolicy = DEFAULT_POLICY) -> LocalRunner:
    """A LocalRunner for `spec`, or `DeviceError` saying why this machine cannot run it."""
    from lutnas.profiler.runners import LocalRunner

    if platform.machine() != spec.machine:
        raise DeviceError(f"a {spec.name} artifact needs an {spec.machine} device, this is {platform.machine()}; "
                          "run it on a board with --rpc HOST:PORT or --tracker HOST:PORT --key KEY")
    if spec.device_type != "cpu":
        from lutnas.profiler.tvm_runtime import device_for

        try:
            device_for(spec.device_type)
        except DeviceError as err:  # no driver, no device: say so in the same words either way
            detail = str(err)
            raise DeviceError(detail if detail.startswith(f"no {spec.device_type} device")
                              else f"no {spec.device_type} device here ({detail})") from None
    ok, why = spec.runnable_here()
    if not ok:
        raise DeviceError(f"cannot run this {spec.name} artifact here: {why}; run it on a device that can "
                          "with --rpc HOST:PORT or --tracker HOST:PORT --key KEY")
    return LocalRunner(spec, "tvm", threads, policy)


def artifact_job(art_dir: Path, manifest: dict[str, Any], threads: int, repeats: int | None = None,
                 min_repeat_ms: float | None = None) -> MeasureJob:
    lib = manifest["library"]
    extra = {k: v for k, v in (("repeats", repeats), ("min_repeat_ms", min_repeat_ms)) if v is not None}
    return MeasureJob(key=f"artifact-{manifest['files'][lib]['sha256'][:12]}",
                      input_shape=tuple(manifest["input"]["shape"]), runtime="tvm",
                      library_path=art_dir / lib, target=manifest["target"]["name"], threads=threads,
                      input_name=manifest["input"].get("name", "input"), **extra)


def run_artifact(art_dir: str | Path, runner: Runner | None = None, threads: int = 1,
                 policy: StabilityPolicy = DEFAULT_POLICY, repeats: int | None = None,
                 min_repeat_ms: float | None = None, strict: bool = True) -> RunReport:
    """Verify, run on the reference input, compare, time. `runner=None` runs here.

    `strict`: a numerics mismatch raises `NumericsError` (after timing nothing).
    """
    import numpy as np

    art_dir = Path(art_dir)
    manifest = verify_artifact(art_dir)  # before anything is loaded
    spec = target_from_manifest(manifest)
    if runner is None:
        runner = local_runner(spec, threads, policy)
    job = artifact_job(art_dir, manifest, runner.threads, repeats, min_repeat_ms)
    ref_info = manifest["reference"]
    x = np.load(art_dir / ref_info["input"], allow_pickle=False)
    ref = np.load(art_dir / ref_info["output"], allow_pickle=False)
    y = np.asarray(runner.run_once(job, x))
    err = float(np.max(np.abs(y.astype(np.float64) - ref))) if y.shape == ref.shape else float("inf")
    check = OutputCheck(err, float(np.max(np.abs(ref))), float(ref_info["rtol"]), float(ref_info["atol"]))
    if strict and not check.ok:
        raise NumericsError(f"{art_dir}: {check.summary()}")
    result = measure_stable(runner, job, policy)
    return RunReport(art_dir, runner.where, check, result, runner.describe())


@dataclass(frozen=True)
class SideBySide:
    """One artifact timed under its TVM library and under onnxruntime, cycle by cycle."""

    tvm_ms: tuple[float, ...]  # the library's latency in each cycle (one sample)
    ort_ms: tuple[float, ...]  # onnxruntime's on the artifact's ONNX file, same cycle
    threads: int

    @property
    def ratio(self) -> float:
        """TVM / onnxruntime: the median of the per-cycle ratios (this VM's speed drifts over minutes,
        which a ratio of two medians taken apart would carry)."""
        import numpy as np

        return float(np.median(np.asarray(self.tvm_ms) / np.asarray(self.ort_ms)))

    @property
    def tvm_median_ms(self) -> float:
        return float(sorted(self.tvm_ms)[len(self.tvm_ms) // 2])

    @property
    def ort_median_ms(self) -> float:
        return float(sorted(self.ort_ms)[len(self.ort_ms) // 2])


def artifact_vs_onnxruntime(art_dir: str | Path, threads: int = 1, rounds: int = INTERLEAVED_CYCLES,
                            repeats: int | None = None, min_repeat_ms: float | None = None) -> SideBySide:
    """Time an artifact's library (lutnas's TVM build) and its ONNX file (onnxruntime, `ort_session`'s
    settings) here, with the same threads, interleaved sample by sample (`rounds` cycles of one sample
    of each, `rounds.measure_interleaved`), as `bench/artifact_vs_ort.py` does for its networks: the
    two samples of a cycle share a moment of the machine, which passes of several samples each did not."""
    from lutnas.profiler.runners import LocalRunner, LocalRuntimes

    art_dir = Path(art_dir)
    manifest = verify_artifact(art_dir)
    spec = target_from_manifest(manifest)
    runner = LocalRuntimes([local_runner(spec, threads), LocalRunner(spec, "onnxruntime", threads)])
    tvm_job = artifact_job(art_dir, manifest, threads, repeats, min_repeat_ms)
    ort_job = replace(tvm_job, key=f"{tvm_job.key}-onnxruntime", runtime="onnxruntime", library_path=None,
                      onnx_path=art_dir / manifest["onnx"])
    passes = measure_interleaved(runner, [tvm_job, ort_job], rounds)
    if passes is None:   # local runners always hold their device
        raise DeviceError("cannot time the two runtimes interleaved here")
    return SideBySide(passes[0].samples_ms, passes[1].samples_ms, threads)
