"""Composition for `lutnas export` / `run` / `--rpc` / `--tracker`: spaces, search weights, tables and
runners meet here, so the stages stay apart (lowering knows no spaces, the profiler no tables).

Only cli.py imports this module.

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
from pathlib import Path
from typing import Any

from lutnas.errors import ArchError, LutnasError

WIDTHS_TRIED = (0.25, 0.35, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def make_runner(target: Any, rpc: str | None = None, tracker: str | None = None, key: str | None = None,
                threads: int = 1, emulated: bool | None = None, policy: Any = None, runtime: str = "tvm") -> Any:
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


def subnet_module(space: Any, arch: Any, resolution: int, weights: Path, width_mult: float | None = None,
                  num_classes: int | None = None) -> tuple[Any, dict[str, Any]]:
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


def _classifier_classes(tensors: dict[str, Any]) -> int:
    def pos(key: str) -> tuple[int, str]:
        parts = key.split(".")
        return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1, key)

    mats = [k for k in sorted(tensors, key=pos) if k.endswith("weight") and tensors[k].dim() == 2]
    if not mats:
        raise ArchError("weights hold no classifier (2-D weight); pass --num-classes")
    return int(tensors[mats[-1]].shape[0])


def _try_supernet(space: Any, arch: Any, resolution: int, width: float, classes: int,
                  tensors: dict[str, Any]) -> tuple[Any, str]:
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


def _path_module(net: Any, arch: Any) -> Any:
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


def predict_latency(db: Path, table_id: str | None, space: Any, arch: Any, resolution: int, target: Any,
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
        notes = _check_table(table.check_compatible, space, resolution, target, runtime, True)
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


def _check_table(check: Any, space: Any, resolution: int, target: Any, runtime: str,
                 allow_mismatch: bool) -> list[str]:
    import inspect

    params = inspect.signature(check).parameters
    values = {"space": space.name, "resolution": resolution, "target": target, "runtime": runtime,
              "allow_mismatch": allow_mismatch}
    result = check(**{k: v for k, v in values.items() if k in params})
    return list(result) if isinstance(result, (list, tuple)) else []
