"""SQLite store of latency tables: tables, entries (one per unique block) and every measured pass.

Follows pyperf's record rules: raw samples are stored (one `Measurement` JSON per pass, samples
included) and statistics are always recomputed from them, never stored instead of them; metadata
that decides comparability (space, resolution, target, runtime, threads, pipeline, device
fingerprint, options) is stored once per table and makes up the table's identity (`table_identity`).

Durability: WAL journal, `synchronous=NORMAL`, and one transaction per measured pass, so a `kill -9`
during profiling loses at most the pass being measured. A file that is not SQLite, or SQLite
without lutnas' `meta` row, is refused with a `TableError` naming the path.

Schema versions (`PRAGMA user_version` and `meta.schema_version` agree):
  1  tables, entries, passes
  2  passes.runner (which device/runner measured a pass: a tracker farm has several), an index on
     passes(entry_id), and `attachments` (named JSON documents kept with a table but outside its
     identity, e.g. a validation calibration). v1 files migrate in place when opened for writing
     and are read as they are (no runner, no attachments).
  3  per-operator (fused-kernel) tables beside the block tables, for any ONNX model
     (`kernel_store`): `kernel_tables` (identity as for tables, without space and resolution),
     `kernels` (one per structural signature), `kernel_passes` (raw passes, as `passes`),
     `kernel_models` (which kernels each profiled model calls, and the VM-overhead probes) and
     `kernel_model_passes` (whole-model passes of the probes). v1/v2 files gain them when opened
     for writing; read-only they have no kernel tables.
`tests/fixtures/lutnas_v1.db` is a committed v1 file that must keep opening.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar

from lutnas.errors import TableError
from lutnas.profiler.measurement import Measurement

SCHEMA_VERSION = 3
APP = "lutnas-latency-db"
ROLES = ("stem", "fixed", "head", "layer", "overhead")   # overhead: per-network cost, added to fixed

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tables (
    id TEXT PRIMARY KEY,
    space TEXT NOT NULL, resolution INTEGER NOT NULL,
    target_name TEXT NOT NULL, target_json TEXT NOT NULL, target_hash TEXT NOT NULL,
    runtime TEXT NOT NULL, threads INTEGER NOT NULL, pipeline TEXT NOT NULL,
    fingerprint TEXT NOT NULL, fingerprint_id TEXT NOT NULL,
    options TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    table_id TEXT NOT NULL REFERENCES tables(id),
    key TEXT NOT NULL, spec TEXT NOT NULL, input_shape TEXT NOT NULL, role TEXT NOT NULL,
    UNIQUE (table_id, key)
);
CREATE TABLE passes (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES entries(id),
    pass_no INTEGER NOT NULL, measurement TEXT NOT NULL, unstable INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (entry_id, pass_no)
);
"""

# Each step takes the schema from version k to k + 1.
_MIGRATIONS = {
    1: """
ALTER TABLE passes ADD COLUMN runner TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS passes_by_entry ON passes(entry_id);
CREATE TABLE attachments (
    table_id TEXT NOT NULL REFERENCES tables(id), name TEXT NOT NULL, value TEXT NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (table_id, name)
);
""",
    2: """
CREATE TABLE kernel_tables (
    id TEXT PRIMARY KEY,
    target_name TEXT NOT NULL, target_json TEXT NOT NULL, target_hash TEXT NOT NULL,
    runtime TEXT NOT NULL, threads INTEGER NOT NULL, pipeline TEXT NOT NULL,
    fingerprint TEXT NOT NULL, fingerprint_id TEXT NOT NULL,
    options TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE kernels (
    id INTEGER PRIMARY KEY,
    ktable_id TEXT NOT NULL REFERENCES kernel_tables(id),
    signature TEXT NOT NULL, kind TEXT NOT NULL, info TEXT NOT NULL,
    UNIQUE (ktable_id, signature)
);
CREATE TABLE kernel_passes (
    id INTEGER PRIMARY KEY,
    kernel_id INTEGER NOT NULL REFERENCES kernels(id),
    pass_no INTEGER NOT NULL, measurement TEXT NOT NULL, unstable INTEGER NOT NULL,
    runner TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
    UNIQUE (kernel_id, pass_no)
);
CREATE TABLE kernel_models (
    id INTEGER PRIMARY KEY,
    ktable_id TEXT NOT NULL REFERENCES kernel_tables(id),
    model_key TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, info TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (ktable_id, model_key)
);
CREATE TABLE kernel_model_passes (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES kernel_models(id),
    what TEXT NOT NULL, pass_no INTEGER NOT NULL, measurement TEXT NOT NULL, unstable INTEGER NOT NULL,
    runner TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
    UNIQUE (model_id, what, pass_no)
);
""",
}


@dataclass(frozen=True)
class TableMeta:
    """Everything that identifies a table (and some facts that do not, like `created_at`)."""

    id: str
    space: str
    resolution: int
    target_name: str
    target_json: str          # canonical JSON (sorted keys) of the full TVM target
    target_hash: str
    runtime: str              # "tvm" | "onnxruntime"
    threads: int
    pipeline: str
    fingerprint: dict[str, Any]
    fingerprint_id: str
    options: dict[str, Any]   # estimator, repeats, min_repeat_ms, width_mult, num_classes, tuning, ...
    created_at: float

    def identity(self) -> dict[str, Any]:
        return table_identity(self.space, self.resolution, self.target_json, self.runtime, self.threads,
                              self.pipeline, self.fingerprint_id, self.options)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class EntryRow:
    id: int
    table_id: str
    key: str
    spec: str
    input_shape: tuple[int, ...]
    role: str


@dataclass(frozen=True)
class PassRow:
    id: int
    entry_id: int
    pass_no: int
    measurement: Measurement
    unstable: bool
    runner: str


def table_identity(space: str, resolution: int, target_json: str, runtime: str, threads: int,
                   pipeline: str, fingerprint_id: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"space": space, "resolution": int(resolution), "target_json": target_json, "runtime": runtime,
            "threads": int(threads), "pipeline": pipeline, "fingerprint_id": fingerprint_id,
            "options": options}


def table_id_of(identity: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:12]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: one text per value, so stored JSON and ids compare."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class MetaRecord(Protocol):
    """A table's metadata record (`TableMeta`, `kernel_store.KernelTableMeta`): a dataclass whose
    fields name the columns of its metadata table."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    id: str
    fingerprint: dict[str, Any]
    options: dict[str, Any]


MetaT = TypeVar("MetaT", bound=MetaRecord)
META_JSON_COLUMNS = ("fingerprint", "options")                       # stored as JSON text
META_CASTS = {"resolution": int, "threads": int, "created_at": float}


class Store:
    """One SQLite file. `Store(path, create=True)` makes or migrates it; `create=False` only reads."""

    def __init__(self, path: str | Path, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise TableError(f"{self.path}: no such latency database")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            objects = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as err:
            raise TableError(f"{self.path}: not a lutnas latency database ({err})") from None
        self.version = self._check(objects, create)
        if create:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()

    # -- schema ------------------------------------------------------------------------------------
    def _check(self, objects: set[str], create: bool) -> int:
        if not objects and create:
            with self.transaction() as c:
                for stmt in _statements(_V1):
                    c.execute(stmt)
                c.execute("INSERT INTO meta VALUES ('app', ?), ('schema_version', '1')", (APP,))
                c.execute("PRAGMA user_version = 1")
            return 1
        if "meta" not in objects:
            what = "empty file" if not objects else f"tables {sorted(objects)[:4]}"
            raise TableError(f"{self.path}: not a lutnas latency database (no meta table; {what})")
        try:
            meta = dict(self.conn.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as err:
            raise TableError(f"{self.path}: not a lutnas latency database ({err})") from None
        if meta.get("app") != APP:
            raise TableError(f"{self.path}: not a lutnas latency database (meta.app = {meta.get('app')!r})")
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise TableError(f"{self.path}: corrupt latency database (bad schema_version)") from None
        if version > SCHEMA_VERSION:
            raise TableError(f"{self.path}: schema version {version} is newer than this lutnas "
                             f"({SCHEMA_VERSION}); upgrade lutnas")
        return version

    def _migrate(self) -> None:
        while self.version < SCHEMA_VERSION:
            nxt = self.version + 1
            with self.transaction() as c:
                for stmt in _statements(_MIGRATIONS[self.version]):
                    c.execute(stmt)
                c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(nxt),))
                c.execute(f"PRAGMA user_version = {nxt}")
            self.version = nxt

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------------
    def read(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Rows of a query; SQLite errors become one `TableError` naming the file (for `kernel_store`)."""
        return self._query(sql, args)

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as err:
            raise TableError(f"{self.path}: cannot read the latency database ({err})") from None
        except sqlite3.DatabaseError as err:
            raise TableError(f"{self.path}: corrupt latency database ({err})") from None

    def table_ids(self) -> list[str]:
        return [r[0] for r in self._query("SELECT id FROM tables ORDER BY created_at, id")]

    def table_meta(self, table_id: str) -> TableMeta:
        meta = self.read_meta("tables", TableMeta, table_id, "table")
        if meta is None:
            raise TableError(f"{self.path}: no table {table_id!r}; tables: {', '.join(self.table_ids()) or 'none'}")
        return meta

    def read_meta(self, sql_table: str, meta_type: type[MetaT], table_id: str, label: str) -> MetaT | None:
        """Row `table_id` of a metadata table (`tables`, `kernel_tables`) as `meta_type`, None when
        absent. One reader for block and kernel tables, so both decode and refuse metadata alike."""
        names = [f.name for f in fields(meta_type)]
        rows = self._query(f"SELECT {', '.join(names)} FROM {sql_table} WHERE id = ?", (table_id,))
        if not rows:
            return None
        row = dict(zip(names, rows[0]))
        try:
            row.update({name: json.loads(row[name]) for name in META_JSON_COLUMNS})
        except json.JSONDecodeError as err:
            raise TableError(f"{self.path}: {label} {table_id}: corrupt metadata ({err})") from None
        row.update({name: cast(row[name]) for name, cast in META_CASTS.items() if name in row})
        return meta_type(**row)

    def entries(self, table_id: str) -> list[EntryRow]:
        rows = self._query("SELECT id, table_id, key, spec, input_shape, role FROM entries "
                           "WHERE table_id = ? ORDER BY id", (table_id,))
        return [EntryRow(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), r[5]) for r in rows]

    def passes(self, table_id: str) -> list[PassRow]:
        runner = "p.runner" if self.version >= 2 else "''"
        rows = self._query(
            f"SELECT p.id, p.entry_id, p.pass_no, p.measurement, p.unstable, {runner} FROM passes p "
            "JOIN entries e ON e.id = p.entry_id WHERE e.table_id = ? ORDER BY p.entry_id, p.pass_no",
            (table_id,))
        return [PassRow(r[0], r[1], r[2], Measurement.from_json(r[3]), bool(r[4]), r[5]) for r in rows]

    def attachment(self, table_id: str, name: str) -> Any | None:
        if self.version < 2:
            return None
        rows = self._query("SELECT value FROM attachments WHERE table_id = ? AND name = ?", (table_id, name))
        return json.loads(rows[0][0]) if rows else None

    def attachment_names(self, table_id: str) -> list[str]:
        if self.version < 2:
            return []
        return [r[0] for r in self._query("SELECT name FROM attachments WHERE table_id = ? ORDER BY name",
                                          (table_id,))]

    # -- writing -----------------------------------------------------------------------------------
    def ensure_table(self, meta: TableMeta) -> bool:
        """Insert the table unless present; True when it was new."""
        return self.insert_meta("tables", meta)

    def insert_meta(self, sql_table: str, meta: MetaRecord) -> bool:
        """Insert a metadata row (the counterpart of `read_meta`) unless its id is present; True when new."""
        if self._query(f"SELECT 1 FROM {sql_table} WHERE id = ?", (meta.id,)):
            return False
        names = [f.name for f in fields(meta)]
        values = [canonical_json(getattr(meta, n)) if n in META_JSON_COLUMNS else getattr(meta, n) for n in names]
        with self.transaction() as c:
            c.execute(f"INSERT INTO {sql_table} ({', '.join(names)}) VALUES ({','.join('?' * len(names))})", values)
        return True

    def ensure_entries(self, table_id: str, rows: list[tuple[str, str, tuple[int, ...], str]]) -> dict[str, int]:
        """(key, spec, input_shape, role) rows -> {key: entry id}; existing keys are kept."""
        with self.transaction() as c:
            for key, spec, shape, role in rows:
                if role not in ROLES:
                    raise TableError(f"entry {key}: role {role!r} not in {ROLES}")
                c.execute("INSERT OR IGNORE INTO entries (table_id, key, spec, input_shape, role) "
                          "VALUES (?,?,?,?,?)", (table_id, key, spec, json.dumps(list(shape)), role))
        return {e.key: e.id for e in self.entries(table_id)}

    def add_pass(self, entry_id: int, m: Measurement, runner: str = "") -> int:
        """Append one pass (numbered after the entry's last) in its own transaction; returns pass_no."""
        with self.transaction() as c:
            (last,) = c.execute("SELECT COALESCE(MAX(pass_no), 0) FROM passes WHERE entry_id = ?",
                                (entry_id,)).fetchone()
            pass_no = int(last) + 1
            record = Measurement.from_dict({**m.to_dict(), "pass_no": pass_no}).to_json()
            c.execute("INSERT INTO passes (entry_id, pass_no, measurement, unstable, created_at, runner) "
                      "VALUES (?,?,?,?,?,?)", (entry_id, pass_no, record, int(m.unstable), time.time(), runner))
        return pass_no


    def set_attachment(self, table_id: str, name: str, value: Any) -> None:
        """Store (or replace) a JSON document kept with the table, outside its identity."""
        self.table_meta(table_id)
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO attachments VALUES (?,?,?,?)",
                      (table_id, name, canonical_json(value), time.time()))

    def delete_attachment(self, table_id: str, name: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM attachments WHERE table_id = ? AND name = ?", (table_id, name))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
