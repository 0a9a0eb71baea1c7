"""Per-operator (fused-kernel) tables in the latency store, beside the block tables (schema v3).

Same rules as block tables (`store.py`): a table's identity is what decides latency -- target JSON,
runtime, threads, pipeline, the device fingerprint id and the measuring options (cache mode,
repeats, ...) -- hashed into its id, so another device or setup makes another table instead of
mixing; raw samples are stored, one `Measurement` per pass, in its own transaction; statistics
are recomputed from them. A kernel entry is keyed by its structural signature
(`lowering.kernels.KernelInfo.signature`), so a kernel shared by many models is one entry.

`kernel_models` records which kernels (and how many calls of each) a profiled model runs, and the
VM-overhead probes (role "probe") whose whole-model passes live in `kernel_model_passes`
(`what` = "model": the VM's main; "kernels": the probe's kernels alone, the same run's other half;
"anchor": one sample of the table's anchor model, timed between passes: `kernel_anchors`).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from lutnas.errors import TableError
from lutnas.latency_tables.store import Store, canonical_json, table_id_of
from lutnas.lowering.kernels import KernelInfo, ModelKernels
from lutnas.profiler.measurement import Measurement

KERNEL_SCHEMA = 3
MODEL_ROLES = ("model", "probe", "zoo")
MODEL_PASS_KINDS = ("model", "kernels", "anchor")


@dataclass(frozen=True)
class KernelTableMeta:
    id: str
    target_name: str
    target_json: str
    target_hash: str
    runtime: str
    threads: int
    pipeline: str
    fingerprint: dict[str, Any]
    fingerprint_id: str
    options: dict[str, Any]     # cache_mode, repeats, min_repeat_ms, warmup, estimator, policy
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def kernel_table_id(target_json: str, runtime: str, threads: int, pipeline: str, fingerprint_id: str,
                    options: dict[str, Any]) -> str:
    return table_id_of({"kind": "kernels", "target_json": target_json, "runtime": runtime, "threads": int(threads),
                        "pipeline": pipeline, "fingerprint_id": fingerprint_id, "options": options})


@dataclass(frozen=True)
class KernelRow:
    id: int
    info: KernelInfo


@dataclass(frozen=True)
class ModelRow:
    id: int
    key: str
    name: str
    role: str
    kernels: ModelKernels


class KernelStore:
    """Kernel tables of one `Store` (opened for writing to create them, read-only to read them)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.path
        if store.version < KERNEL_SCHEMA:
            raise TableError(f"{store.path}: schema version {store.version} has no kernel tables "
                             "(profile a model with `lutnas profile --onnx` to add them)")

    # -- tables -------------------------------------------------------------------------------------
    def table_ids(self) -> list[str]:
        return [r[0] for r in self.store.read("SELECT id FROM kernel_tables ORDER BY created_at, id")]

    def pick(self, table_id: str | None) -> str:
        """`table_id` (a unique prefix will do), or the only kernel table; `TableError` otherwise."""
        ids = self.table_ids()
        if table_id is None:
            if len(ids) == 1:
                return ids[0]
            what = "no kernel table (run `lutnas profile --onnx`)" if not ids else \
                f"{len(ids)} kernel tables, pick one with --table: {', '.join(ids)}"
            raise TableError(f"{self.path}: holds {what}")
        matches = [i for i in ids if i.startswith(table_id)]
        if len(matches) != 1:
            raise TableError(f"{self.path}: no kernel table {table_id!r}; kernel tables: {', '.join(ids) or 'none'}")
        return matches[0]

    def meta(self, table_id: str) -> KernelTableMeta:
        meta = self.store.read_meta("kernel_tables", KernelTableMeta, table_id, "kernel table")
        if meta is None:
            raise TableError(f"{self.path}: no kernel table {table_id!r}")
        return meta

    def ensure_table(self, meta: KernelTableMeta) -> bool:
        """Insert the kernel table unless present; True when it was new."""
        return self.store.insert_meta("kernel_tables", meta)

    # -- kernels ------------------------------------------------------------------------------------
    def ensure_kernels(self, table_id: str, infos: list[KernelInfo]) -> dict[str, int]:
        """Insert kernels not yet in the table (by signature); returns {signature: kernel id} of all."""
        with self.store.transaction() as c:
            for info in infos:
                c.execute("INSERT OR IGNORE INTO kernels (ktable_id, signature, kind, info) VALUES (?,?,?,?)",
                          (table_id, info.signature, info.kind, canonical_json(info.to_dict())))
        return {row.info.signature: row.id for row in self.kernels(table_id)}

    def kernels(self, table_id: str) -> list[KernelRow]:
        rows = self.store.read("SELECT id, info FROM kernels WHERE ktable_id = ? ORDER BY id", (table_id,))
        try:
            return [KernelRow(int(r[0]), KernelInfo.from_dict(json.loads(r[1]))) for r in rows]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise TableError(f"{self.path}: kernel table {table_id}: corrupt kernel record ({err})") from None

    def add_kernel_pass(self, kernel_id: int, m: Measurement, runner: str = "") -> int:
        return self._add_pass("kernel_passes", "kernel_id", kernel_id, m, runner)

    def kernel_passes(self, table_id: str) -> dict[int, list[Measurement]]:
        rows = self.store.read(
            "SELECT p.kernel_id, p.measurement FROM kernel_passes p JOIN kernels k ON k.id = p.kernel_id "
            "WHERE k.ktable_id = ? ORDER BY p.kernel_id, p.pass_no", (table_id,))
        out: dict[int, list[Measurement]] = defaultdict(list)
        for kernel_id, text in rows:
            out[int(kernel_id)].append(Measurement.from_json(text))
        return dict(out)

    # -- models and probes --------------------------------------------------------------------------
    def ensure_model(self, table_id: str, key: str, name: str, role: str, kernels: ModelKernels) -> int:
        if role not in MODEL_ROLES:
            raise TableError(f"model {name}: role {role!r} not in {MODEL_ROLES}")
        with self.store.transaction() as c:
            c.execute("INSERT OR IGNORE INTO kernel_models (ktable_id, model_key, name, role, info, created_at) "
                      "VALUES (?,?,?,?,?,?)", (table_id, key, name, role, canonical_json(kernels.to_dict()), time.time()))
            (model_id,) = c.execute("SELECT id FROM kernel_models WHERE ktable_id = ? AND model_key = ?",
                                    (table_id, key)).fetchone()
        return int(model_id)

    def models(self, table_id: str, role: str | None = None) -> list[ModelRow]:
        rows = self.store.read("SELECT id, model_key, name, role, info FROM kernel_models WHERE ktable_id = ? "
                               "ORDER BY id", (table_id,))
        try:
            out = [ModelRow(int(r[0]), r[1], r[2], r[3], ModelKernels.from_dict(json.loads(r[4]))) for r in rows]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise TableError(f"{self.path}: kernel table {table_id}: corrupt model record ({err})") from None
        return [m for m in out if role is None or m.role == role]

    def add_model_pass(self, model_id: int, what: str, m: Measurement, runner: str = "") -> int:
        if what not in MODEL_PASS_KINDS:
            raise TableError(f"model pass kind {what!r} not in {MODEL_PASS_KINDS}")
        return self._add_pass("kernel_model_passes", "model_id", model_id, m, runner, what)

    def model_passes(self, table_id: str) -> dict[tuple[int, str], list[Measurement]]:
        rows = self.store.read(
            "SELECT p.model_id, p.what, p.measurement FROM kernel_model_passes p JOIN kernel_models m "
            "ON m.id = p.model_id WHERE m.ktable_id = ? ORDER BY p.model_id, p.what, p.pass_no", (table_id,))
        out: dict[tuple[int, str], list[Measurement]] = defaultdict(list)
        for model_id, what, text in rows:
            out[(int(model_id), what)].append(Measurement.from_json(text))
        return dict(out)

    def _add_pass(self, table: str, owner: str, owner_id: int, m: Measurement, runner: str,
                  what: str | None = None) -> int:
        """Append one pass, numbered after the owner's last, in its own transaction; returns pass_no."""
        scope, args = (f"{owner} = ?", (owner_id,)) if what is None else (f"{owner} = ? AND what = ?", (owner_id, what))
        with self.store.transaction() as c:
            (last,) = c.execute(f"SELECT COALESCE(MAX(pass_no), 0) FROM {table} WHERE {scope}", args).fetchone()
            pass_no = int(last) + 1
            record = Measurement.from_dict({**m.to_dict(), "pass_no": pass_no}).to_json()
            cols = f"{owner}, pass_no, measurement, unstable, runner, created_at" + ("" if what is None else ", what")
            values = (owner_id, pass_no, record, int(m.unstable), runner, time.time()) + (() if what is None else (what,))
            c.execute(f"INSERT INTO {table} ({cols}) VALUES ({','.join('?' * len(values))})", values)
        return pass_no
