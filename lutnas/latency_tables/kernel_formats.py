"""Kernel tables (`lutnas profile --onnx`) as files and in listings: `lutnas table list` and `export`.

A kernel table is per fused kernel, not per block of a search space, so it has its own shapes: JSON
(`"format": "lutnas-kernel-table"`) carries the metadata and device fingerprint, every kernel (what
the lowering says of it, its estimate on the table's time base, whether its passes agreed, its raw
passes as measured) and every profiled model (its kernels and calls, its raw whole / anchor passes);
CSV is one row per kernel with its estimate, for spreadsheets. Both are export only: a kernel's
signature names a compiled PrimFunc of this lutnas and TVM, so a table is rebuilt by profiling, not
carried between installs. The Once-for-All YAML keys name a space's blocks and have no kernel form.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from lutnas.errors import TableError
from lutnas.latency_tables.kernel_store import KERNEL_SCHEMA, KernelStore
from lutnas.latency_tables.kernel_table import KernelTable
from lutnas.latency_tables.store import Store
from lutnas.profiler.stability import verdict

KERNEL_JSON_FORMAT = "lutnas-kernel-table"
KERNEL_JSON_VERSION = 1
KERNEL_FORMATS = ("json", "csv")


def kernel_table_ids(store: Store) -> list[str]:
    """The kernel tables of an open store (none in a database older than kernel tables)."""
    return KernelStore(store).table_ids() if store.version >= KERNEL_SCHEMA else []


def kernel_table_summaries(store: Store) -> list[dict[str, Any]]:
    """One listing row per kernel table: identity, device, and how far profiling got."""
    return [_summary(KernelStore(store), tid) for tid in kernel_table_ids(store)]


def _summary(ks: KernelStore, tid: str) -> dict[str, Any]:
    meta, passes, kernels = ks.meta(tid), ks.kernel_passes(tid), ks.kernels(tid)
    return {"kind": "kernels", "id": tid, "target_name": meta.target_name, "runtime": meta.runtime,
            "threads": meta.threads, "pipeline": meta.pipeline, "fingerprint_id": meta.fingerprint_id,
            "cpu_model": meta.fingerprint.get("cpu_model", "?"), "kernels": len(kernels),
            "measured": sum(1 for k in kernels if passes.get(k.id)),
            "passes": sum(len(p) for p in passes.values()), "models": len(ks.models(tid, role="model")),
            "options": meta.options, "created_at": meta.created_at}


def export_kernel_table(table: KernelTable, fmt: str, out: Path) -> str:
    """Write `table` as `fmt` (json or csv) to `out`; returns a short description of what was written."""
    if fmt not in KERNEL_FORMATS:
        raise TableError(f"kernel table {table.id}: no {fmt} export (the {fmt} format holds a search space's "
                         f"blocks); a kernel table exports as {' or '.join(KERNEL_FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        doc = kernel_table_to_json(table)
        out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        profiled = sum(1 for m in doc["models"] if m["role"] == "model")
        return (f"kernel table: {len(doc['kernels'])} kernels, "
                f"{sum(len(k['passes']) for k in doc['kernels'])} kernel passes, {profiled} profiled model(s)")
    return f"kernel table: {write_kernel_csv(table, out)} kernels"


def kernel_table_to_json(table: KernelTable) -> dict[str, Any]:
    """The whole table: metadata, kernels with estimates and raw passes, models with raw passes."""
    ks, tid = table.ks, table.id
    raw_kernels, raw_models = ks.kernel_passes(tid), ks.model_passes(tid)
    estimates = table.estimates()
    kernels = []
    for row in ks.kernels(tid):
        sig, passes = row.info.signature, table.passes.get(row.info.signature, [])
        kernels.append({**row.info.to_dict(), "estimate_ms": estimates.get(sig),
                        "stable": bool(passes) and verdict(passes, table.policy).stable,
                        "passes": [m.to_dict() for m in raw_kernels.get(row.id, [])]})
    models = [{"key": m.key, "name": m.name, "role": m.role, "kernels": m.kernels.to_dict(),
               "passes": {what: [p.to_dict() for p in ms] for (mid, what), ms in raw_models.items() if mid == m.id}}
              for m in ks.models(tid)]
    speed = table.speed
    return {"format": KERNEL_JSON_FORMAT, "version": KERNEL_JSON_VERSION, "exported_at": time.time(),
            "meta": table.meta.to_dict(),
            "time_base": {"anchor_samples": 0 if speed is None else len(speed.times),
                          "moved": None if speed is None else speed.spread},
            "kernels": kernels, "models": models}


def write_kernel_csv(table: KernelTable, out: Path) -> int:
    """One row per kernel: what it is, its shapes and work, its estimate on the table's time base."""
    estimates = table.estimates()
    calls: dict[str, int] = {}
    for m in table.ks.models(table.id, role="model"):
        for sig, n in m.kernels.calls_by_signature().items():
            calls[sig] = calls.get(sig, 0) + n
    fields = ["signature", "name", "kind", "pattern", "inputs", "output", "dtypes", "mflop", "passes",
              "estimate_ms", "stable", "calls_in_models"]
    rows = table.ks.kernels(table.id)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            info, passes = row.info, table.passes.get(row.info.signature, [])
            writer.writerow({"signature": info.signature, "name": info.name, "kind": info.kind,
                             "pattern": info.pattern, "inputs": " ".join(p.text() for p in info.params[:-1]),
                             "output": info.params[-1].text() if info.params else "",
                             "dtypes": "/".join(sorted({p.dtype for p in info.params})),
                             "mflop": f"{info.flops / 1e6:.6g}", "passes": len(passes),
                             "estimate_ms": "" if info.signature not in estimates else f"{estimates[info.signature]:.6g}",
                             "stable": int(bool(passes) and verdict(passes, table.policy).stable),
                             "calls_in_models": calls.get(info.signature, 0)})
    return len(rows)
