"""Composition for `lutnas lower` / `export` / `run` / `--rpc` / `--tracker`: spaces, search weights,
tables, tuning and runners meet here, so the stages stay apart (lowering knows no spaces, the
profiler no tables). `lower_arch` and `export_arch` are the stage functions of `lutnas lower` and
`lutnas export`; the CLI only parses, calls them and prints.

Weights written by `lutnas search` (`weights.safetensors`) are the chosen path of a weight-sharing
supernet (`lutnas.search.supernet.Supernet.subnet_state`): keys `segments.<pos>.<choice>.<param>` for
searchable layers and `segments.<pos>.<param>` for fixed blocks, at the supernet's width multiplier
and the data set's class count (neither stored in the file). They do not load into
`space.build(arch)` by name, so `subnet_module()` rebuilds the supernet at the width / class count
the tensors fit (the class count read from the classifier, the width found by matching every
tensor shape against the candidate widths), loads the tensors, and exports the single path: the same
blocks `space.build` composes, with the trained weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.errors import ArchError, DeviceError, LutnasError
from lutnas.progress import Say, silent

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lutnas.latency_tables.anchored import AnchoredLatency
    from lutnas.lowering.lower import LoweredArtifact
    from lutnas.lowering.targets import TargetSpec
    from lutnas.lowering.tuning import TuningReport
    from lutnas.profiler.deploy import RunReport
    from lutnas.profiler.runners import Runner
    from lutnas.profiler.stability import StabilityPolicy
    from lutnas.search.supernet import Supernet
    from lutnas.spaces import Arch, SearchSpace

WIDTHS_TRIED = (0.25, 0.35, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def make_runner(target: TargetSpec, rpc: str | None = None, tracker: str | None = None, key: str | None = None,
                threads: int = 1, emulated: bool | None = None, policy: StabilityPolicy | None = None,
                runtime: str = "tvm") -> Runner | None:
    """`RPCRunner` for --rpc, `TrackerRunner` for --tracker/--key, else None (run locally)."""
    from lutnas.profiler.rpc import RPCRunner, TrackerRunner, parse_address
    from lutnas.profiler.stability import DEFAULT_POLICY

    policy = policy or DEFAULT_POLICY
    if rpc and tracker:
        raise LutnasError("give either --rpc HOST:PORT or --tracker HOST:PORT --key KEY, not both")
    if rpc:
        host, port = parse_address(rpc, "--rpc")
        return RPCRunner(host, port, target, runtime, threads=threads, emulated=emulated, policy=policy)
    if tracker:
        if not key:
            raise LutnasError("--tracker needs --key (the device key the boards registered under)")
        host, port = parse_address(tracker, "--tracker")
        return TrackerRunner(host, port, key, target, runtime, threads=threads, emulated=emulated, policy=policy)
    if key:
        raise LutnasError("--key needs --tracker HOST:PORT")
    return None


def subnet_module(space: SearchSpace, arch: Arch, resolution: int, weights: Path, width_mult: float | None = None,
                  num_classes: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """(eval-mode torch module with the searched weights, info for the manifest)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as err:
        raise LutnasError(f"{weights}: not a readable safetensors file ({err})") from None
    meta = _safetensors_meta(weights)
    if meta.get("space") not in (None, space.name):
        raise ArchError(f"{weights}: weights are for space {meta['space']!r}, not {space.name!r}")
    if meta.get("arch") is not None and list(json.loads(meta["arch"])) != list(arch):
        raise ArchError(f"{weights}: weights are for arch {meta['arch']}, not {list(arch)}")
    classes = num_classes or _classifier_classes(tensors)
    widths = (width_mult,) if width_mult else WIDTHS_TRIED
    first_err = ""
    for w in widths:
        net, err = _try_supernet(space, arch, resolution, w, classes, tensors)
        if net is not None:
            info = {"weights": {"file": weights.name, "width_mult": w, "num_classes": classes,
                                "tensors": len(tensors), "source": "supernet path (lutnas search)"}}
            return _path_module(net, arch), info
        first_err = first_err or err
    tried = ", ".join(f"{w:g}" for w in widths)
    raise ArchError(f"{weights}: tensors fit no supernet path of {space.name} arch at width {tried} "
                    f"with {classes} classes ({first_err})")


def _safetensors_meta(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def _classifier_classes(tensors: dict[str, torch.Tensor]) -> int:
    def pos(key: str) -> tuple[int, str]:
        parts = key.split(".")
        return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1, key)

    mats = [k for k in sorted(tensors, key=pos) if k.endswith("weight") and tensors[k].dim() == 2]
    if not mats:
        raise ArchError("weights hold no classifier (2-D weight); pass --num-classes")
    return int(tensors[mats[-1]].shape[0])


def _try_supernet(space: SearchSpace, arch: Arch, resolution: int, width: float, classes: int,
                  tensors: dict[str, torch.Tensor]) -> tuple[Supernet | None, str]:
    from lutnas.search.supernet import Supernet

    try:
        net = Supernet(space, resolution, classes, width_mult=width)
    except LutnasError as err:
        return None, str(err)
    want = {k: tuple(v.shape) for k, v in net.subnet_state(arch).items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing or extra:
        return None, f"missing {missing[:1]} extra {extra[:1]}"
    bad = [k for k in want if want[k] != got[k]]
    if bad:
        return None, f"{bad[0]}: file {got[bad[0]]} vs model {want[bad[0]]}"
    net.load_state_dict(tensors, strict=False)
    return net.eval(), ""


def _path_module(net: Supernet, arch: Arch) -> nn.Module:
    """The single path of `net` for `arch` as a plain module (skipped layers dropped)."""
    import torch
    from torch import nn

    mods: list[nn.Module] = []
    layer = 0
    for kind, segment in zip(net.kinds, net.segments):
        if kind == "fixed":
            mods.append(segment)
        else:
            chosen = segment[int(arch[layer])]
            if not isinstance(chosen, nn.Identity):
                mods.append(chosen)
            layer += 1
    mods.append(nn.Flatten(1))
    with torch.no_grad():
        return nn.Sequential(*mods).eval()


def predict_latency(db: Path, table_id: str | None, space: SearchSpace, arch: Arch, resolution: int,
                    target: TargetSpec,
                    runtime: str = "tvm", allow_mismatch: bool = False, width_mult: float = 1.0,
                    num_classes: int = 1000, calibrated: bool = False) -> dict[str, Any]:
    """The latency the table predicts for `arch`, with its interval, after checking the table fits
    (space, resolution, target, runtime; and the network's width and class count, which the table's
    entries were measured at). With `allow_mismatch` the mismatches are returned in the record."""
    import numpy as np

    from lutnas.errors import TableError
    from lutnas.latency_tables import open_table

    table = open_table(db, table_id)
    try:
        meta = table.meta
        notes = table.check_compatible(space=space.name, resolution=resolution, target=target, runtime=runtime,
                                       allow_mismatch=True)
        for name, mine in (("width_mult", width_mult), ("num_classes", num_classes)):
            theirs = meta.options.get(name)
            if theirs is not None and theirs != mine:
                notes.append(f"{name}: table has {theirs!r}, exported network {mine!r}")
        if notes and not allow_mismatch:
            raise TableError(f"table {meta.id} ({db}) does not match: {'; '.join(notes)} "
                             "(--allow-mismatch to use it anyway)")
        pred = table.dense(calibrated=calibrated).predict(np.asarray([list(arch)], dtype=np.int64))
    finally:
        table.close()
    return {
        "latency_ms": float(pred.latency_ms[0]), "low_ms": float(pred.low_ms[0]), "high_ms": float(pred.high_ms[0]),
        "db": str(db), "table": meta.id, "runtime": meta.runtime, "threads": meta.threads,
        "fingerprint_id": meta.fingerprint_id, "emulated": bool(meta.fingerprint.get("emulated")),
        "mismatch_allowed": notes, "calibrated": calibrated,
    }


# -- the stage functions of `lutnas lower` and `lutnas export` ------------------------------------------
@dataclass(frozen=True)
class LoweredArch:
    """`lutnas lower`: one arch of an archs file, lowered and numerically checked."""

    space: str
    index: int
    resolution: int
    artifact: LoweredArtifact


def lower_arch(arch_file: Path, index: int, target: TargetSpec, out_dir: Path, *, space: str | None = None,
               resolution: int | None = None, num_classes: int = 1000, width_mult: float = 1.0,
               pipeline: str | None = None) -> LoweredArch:
    """Lower arch `index` of `arch_file` to ONNX and a library for `target` in `out_dir`, numerics
    checked against torch (the report is in the artifact; `raise_if_failed` is the caller's)."""
    from lutnas.lowering import DEFAULT_PIPELINE, lower
    from lutnas.spaces import load_arch

    found, arch = load_arch(arch_file, index, space)
    res = found.resolve_resolution(resolution)
    module = found.build(arch, res, num_classes=num_classes, width_mult=width_mult)
    art = lower(module, (1, 3, res, res), target, out_dir, pipeline=pipeline or DEFAULT_PIPELINE)
    return LoweredArch(found.name, index, res, art)


@dataclass(frozen=True)
class ExportRequest:
    """What `lutnas export` was asked for (the CLI's options, parsed)."""

    arch_file: Path
    target: TargetSpec
    out_dir: Path
    index: int = 0
    space: str | None = None
    weights: Path | None = None      # a supernet path written by `lutnas search`
    db: Path | None = None           # a latency table whose prediction the manifest records
    table_id: str | None = None
    calibrated: bool = False
    allow_mismatch: bool = False
    resolution: int | None = None
    num_classes: int | None = None
    width_mult: float | None = None
    pipeline: str | None = None
    threads: int = 1
    tune_trials: int | None = None   # MetaSchedule trials for the network (None: no tuning)
    tuning_root: Path | None = None
    anchors: int | None = None       # the table's drift anchors for the at-table-speed timing (None: its default, 0: off)


@dataclass(frozen=True)
class ExportResult:
    manifest: dict[str, Any]          # as written, before the measurement was added
    run: RunReport | None             # None: this machine cannot run the target (`not_measured` says why)
    not_measured: str = ""
    anchored: AnchoredLatency | None = None   # timed at the table's profiling speed (`--db`)
    not_anchored: str = ""            # why it was not, when a table was given


def export_arch(req: ExportRequest, runner: Runner | None = None, *, progress: bool = False,
                say: Say = silent) -> ExportResult:
    """`lutnas export`: build the network (with searched weights if given), record the table's
    prediction, tune it if asked, lower it into an artifact with a sha256 manifest, then run it
    against its reference and time it here (or on `runner`'s board) into the manifest."""
    from lutnas.lowering.artifact import export_artifact
    from lutnas.spaces import load_arch

    space, arch = load_arch(req.arch_file, req.index, req.space)
    res = space.resolve_resolution(req.resolution)
    module, info = export_module(space, arch, res, req.weights, req.width_mult, req.num_classes)
    predicted = _export_prediction(req, space, arch, res, info, say)
    info = {"space": space.name, "arch": list(arch), "arch_file": str(req.arch_file), "arch_index": req.index,
            "resolution": res, **info, "predicted": predicted}
    pipeline, db_dir = req.pipeline, None
    if req.tune_trials is not None:
        tuned = tune_network(module, (1, 3, res, res), req.target, req.threads, req.tune_trials, req.tuning_root,
                             req.out_dir, progress=progress)
        say(f"tuning: {tuned.report.summary}")
        pipeline, db_dir, info["tuning"] = tuned.report.pipeline, tuned.database_dir, tuned.record
    manifest = export_artifact(module, (1, 3, res, res), req.target, req.out_dir, info, pipeline, tuning_db=db_dir)
    say(f"{space.name} arch {req.index} @ {res} -> {req.out_dir}/ (target {req.target.name}, "
        f"hash {manifest['target_hash']})")
    say(manifest["numerics"]["summary"] if manifest["numerics"] else "numerics: not checked")
    if predicted is not None:
        say(f"predicted: {predicted['latency_ms']:.3f} ms [{predicted['low_ms']:.3f}, "
            f"{predicted['high_ms']:.3f}] (table {predicted['table']})")
        for line in predicted["mismatch_allowed"]:
            say(f"warning: mismatch allowed: {line}", err=True)
    return _measure_export(req, manifest, runner, progress=progress)


def export_module(space: SearchSpace, arch: Arch, resolution: int, weights: Path | None, width_mult: float | None,
                  num_classes: int | None) -> tuple[nn.Module, dict[str, Any]]:
    """The network to export and what the manifest says of its weights, width and classes."""
    if weights is not None:
        module, info = subnet_module(space, arch, resolution, weights, width_mult, num_classes)
        return module, {**info, "width_mult": info["weights"]["width_mult"],
                        "num_classes": info["weights"]["num_classes"]}
    wm, nc = width_mult or 1.0, num_classes or 1000
    return space.build(arch, resolution, num_classes=nc, width_mult=wm), {"weights": None, "width_mult": wm,
                                                                          "num_classes": nc}


def _export_prediction(req: ExportRequest, space: SearchSpace, arch: Arch, resolution: int,
                       info: dict[str, Any], say: Say) -> dict[str, Any] | None:
    """The table's prediction for the exported network (None without a table)."""
    if req.db is None:
        return None
    from lutnas.latency_tables.table import unused_calibration_note

    predicted = predict_latency(req.db, req.table_id, space, arch, resolution, req.target, "tvm",
                                req.allow_mismatch, info["width_mult"], info["num_classes"],
                                calibrated=req.calibrated)
    note = None if req.calibrated else unused_calibration_note(req.db, req.table_id)
    if note:
        say(note, err=True)
    return predicted


def _measure_export(req: ExportRequest, manifest: dict[str, Any], runner: Runner | None, *,
                    progress: bool = False) -> ExportResult:
    """Run the artifact against its reference and time it; the manifest records either outcome. With a
    table, time it again at the table's profiling speed (`at_table_speed`)."""
    from lutnas.lowering.artifact import update_manifest
    from lutnas.profiler.deploy import local_runner, run_artifact

    try:
        runner = runner or local_runner(req.target, req.threads)
    except DeviceError as err:
        update_manifest(req.out_dir, measured={"latency_ms": None, "note": f"not measured: {err}"})
        return ExportResult(manifest, None, str(err))
    report = run_artifact(req.out_dir, runner, req.threads, strict=False)
    update_manifest(req.out_dir, measured=report.measured_dict(), device_check=report.check.to_dict())
    predicted = manifest.get("predicted")
    if predicted is None or not report.check.ok:
        return ExportResult(manifest, report)
    anchored, why = at_table_speed(req.out_dir, req.target, req.db, req.table_id, req.anchors, runner, progress)
    record = anchored.to_dict(predicted["latency_ms"]) if anchored else {"latency_ms": None, "note": why}
    update_manifest(req.out_dir, measured_at_table_speed=record)
    return ExportResult(manifest, report, anchored=anchored, not_anchored=why)


def at_table_speed(art_dir: Path, target: TargetSpec, db: Path | None, table_id: str | None, anchors: int | None,
                   runner: Runner, progress: bool = False) -> tuple[AnchoredLatency | None, str]:
    """The artifact in `art_dir` timed with the table's drift anchors (`latency_tables.anchored`; `anchors`
    of them, None: the table's default, 0: off), or (None, why not): the anchors speak for the table's
    device, runtime and thread count only."""
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.anchored import time_at_table_speed
    from lutnas.latency_tables.jobs import work_dir_for
    from lutnas.latency_tables.tuned import table_tuning_db
    from lutnas.lowering.artifact import read_manifest
    from lutnas.lowering.targets import target_from_json
    from lutnas.profiler.deploy import artifact_job

    if db is None:
        return None, "no table (--db)"
    if anchors == 0:
        return None, "--anchors 0"
    table = open_table(db, table_id)
    try:
        meta = table.meta
        mismatched = table.check_compatible(target=target, runtime="tvm", threads=runner.threads,
                                            fingerprint=runner.describe(), allow_mismatch=True)
        if mismatched:
            return None, f"the table was made for another setup ({'; '.join(mismatched)})"
        job = artifact_job(art_dir, read_manifest(art_dir), runner.threads)
        anchored = time_at_table_speed(table, job, runner, target_from_json(meta.target_name, meta.target_json),
                                       work_dir=work_dir_for(Path(table.path)), anchors=anchors,
                                       tuning_db=table_tuning_db(table), progress=progress)
    finally:
        table.close()
    if anchored is None:
        return None, "the table has no drift anchors, or the runner cannot hold one device for the series"
    return anchored, ""


@dataclass(frozen=True)
class TableCheck:
    """`lutnas run --db`: the table's prediction for an artifact's network, and the artifact timed at
    the table's profiling speed (None, with the reason, where the table cannot speak for this device)."""

    predicted: dict[str, Any]
    anchored: AnchoredLatency | None
    not_anchored: str = ""

    def to_dict(self) -> dict[str, Any]:
        at = (self.anchored.to_dict(self.predicted["latency_ms"]) if self.anchored
              else {"latency_ms": None, "note": self.not_anchored})
        return {"predicted": self.predicted, "measured_at_table_speed": at}


def check_against_table(art_dir: Path, db: Path, table_id: str | None, runner: Runner | None, *, threads: int = 1,
                        anchors: int | None = None, progress: bool = False) -> TableCheck:
    """The table's prediction for the artifact's network (its space, arch, resolution, width and classes,
    as the manifest records them; a mismatched table is a `TableError`) and the artifact timed at the
    table's profiling speed: the table's error for the artifact that ships, on this device today (`runner`:
    a board's; None: here, `threads` threads)."""
    from lutnas.errors import TableError
    from lutnas.lowering.artifact import read_manifest
    from lutnas.profiler.deploy import local_runner, target_from_manifest
    from lutnas.spaces import get_space

    manifest = read_manifest(art_dir)
    if not manifest.get("space") or manifest.get("arch") is None:
        raise TableError(f"{art_dir}: the manifest records no arch of a search space, and a table predicts those only")
    target = target_from_manifest(manifest)
    predicted = predict_latency(db, table_id, get_space(manifest["space"]), tuple(manifest["arch"]),
                                int(manifest["resolution"]), target, "tvm",
                                width_mult=float(manifest.get("width_mult") or 1.0),
                                num_classes=int(manifest.get("num_classes") or 1000))
    runner = runner or local_runner(target, threads)
    anchored, why = at_table_speed(art_dir, target, db, table_id, anchors, runner, progress)
    return TableCheck(predicted, anchored, why)


@dataclass(frozen=True)
class TunedNetwork:
    report: TuningReport
    database_dir: Path
    record: dict[str, Any]           # the manifest's "tuning" record


def tune_network(module: nn.Module, shape: tuple[int, ...], target: TargetSpec, threads: int, trials: int,
                 root: Path | None, out_dir: Path, *, progress: bool = False) -> TunedNetwork:
    """`export --tune`: tune the network into this device's database (tasks `profile --tune` already
    tuned are reused); the report, the database directory and the manifest's record of it."""
    from lutnas.latency_tables.tuned import tuning_db_for
    from lutnas.lowering import export_onnx
    from lutnas.lowering.tuning import tune

    db_dir = tuning_db_for(target, threads, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(module, shape, out_dir / "model.onnx")   # lower() writes the same bytes again
    rep = tune(onnx_path, shape, target, db_dir, trials=trials, threads=threads, progress=progress)
    record = {"trials": trials, "trials_run": rep.trials_run, "tuning_s": round(rep.seconds, 1),
              "database_hash": rep.database_hash, "database": str(db_dir)}
    return TunedNetwork(rep, db_dir, record)
