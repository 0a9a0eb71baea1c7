"""Table export and import: self-describing JSON, CSV, and the OFA / ProxylessNAS YAML key format.

JSON (`"format": "lutnas-table"`, versioned like pyperf's files): the table's metadata and device
fingerprint, every entry, and every raw pass (the `Measurement` records, samples included), so an
import reproduces the table exactly, under the same id. CSV: one row per entry with its statistics,
for spreadsheets (export only). YAML: see `ofa_yaml`.

Importing into an existing table (`into=`) merges passes only when the two tables describe the same
thing: each mismatched field (space, resolution, target, runtime, threads, device fingerprint) is
named and the merge refused, as pyperf refuses to merge runs whose checked metadata differ.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lutnas.errors import TableError, error_line
from lutnas.latency_tables import ofa_yaml
from lutnas.latency_tables.store import Store, TableMeta, table_id_of
from lutnas.latency_tables.table import LatencyTable, fingerprint_mismatches, open_table
from lutnas.profiler.measurement import Measurement

JSON_FORMAT = "lutnas-table"
JSON_VERSION = 1
FORMATS = ("json", "csv", "ofa-yaml")


@dataclass(frozen=True)
class ImportResult:
    table_id: str
    entries: int
    passes: int
    skipped: list[str]     # source keys that map to no block (YAML) or passes already present (JSON)
    missing: list[str]     # blocks of the space the source has no value for (YAML)


# -- export ------------------------------------------------------------------------------------------
def export_table(db: str | Path, table_id: str | None, fmt: str, out: str | Path) -> str:
    """Write one table to `out`; returns a short description of what was written."""
    if fmt not in FORMATS:
        raise TableError(f"unknown table format {fmt!r}; valid: {', '.join(FORMATS)}")
    out = Path(out)
    if table_kind(db, table_id) == "kernels":
        return _export_kernels(db, table_id, fmt, out)
    table = open_table(db, table_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "json":
            doc = table_to_json(table)
            out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            return f"{len(doc['entries'])} entries, {sum(len(e['passes']) for e in doc['entries'])} passes"
        if fmt == "csv":
            return f"{write_csv(table, out)} rows"
        return f"{write_ofa_yaml(table, out)} keys"
    finally:
        table.close()


def table_kind(db: str | Path, table_id: str | None) -> str:
    """"kernels" when `table_id` (a unique prefix will do) names a kernel table, or when none is given
    and the database holds kernel tables only; else "blocks" (a search space's table, as before)."""
    from lutnas.latency_tables.kernel_formats import kernel_table_ids

    with Store(db, create=False) as store:
        blocks, kernels = store.table_ids(), kernel_table_ids(store)
    if table_id is None:
        return "kernels" if kernels and not blocks else "blocks"
    in_kernels, in_blocks = (any(t.startswith(table_id) for t in ids) for ids in (kernels, blocks))
    if not in_kernels and not in_blocks:
        raise TableError(f"{db}: no table {table_id!r}; tables: {', '.join(blocks) or 'none'}; "
                         f"kernel tables: {', '.join(kernels) or 'none'}")
    return "kernels" if in_kernels and not in_blocks else "blocks"


def _export_kernels(db: str | Path, table_id: str | None, fmt: str, out: Path) -> str:
    from lutnas.latency_tables.kernel_formats import export_kernel_table
    from lutnas.latency_tables.kernel_table import open_kernel_table

    table = open_kernel_table(db, table_id)
    try:
        return export_kernel_table(table, fmt, out)
    finally:
        table.ks.store.close()


def table_to_json(table: LatencyTable) -> dict[str, Any]:
    entries = [{"key": d.entry.key, "spec": d.entry.spec, "input_shape": list(d.entry.input_shape),
                "role": d.entry.role, "passes": [{**p.measurement.to_dict(), "runner": p.runner} for p in d.passes]}
               for d in table.entries()]
    return {"format": JSON_FORMAT, "version": JSON_VERSION, "exported_at": time.time(),
            "meta": table.meta.to_dict(), "entries": entries}


def write_csv(table: LatencyTable, out: Path) -> int:
    measured, st = table.statistics()
    verdicts = table.verdicts()
    fields = ["key", "role", "spec", "input_shape", "passes", "estimator", *st.row(0).keys(), "stable"]
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for i, d in enumerate(measured):
            v = verdicts[d.entry.key]
            writer.writerow({"key": d.entry.key, "role": d.entry.role, "spec": d.entry.spec,
                             "input_shape": "x".join(map(str, d.entry.input_shape)), "passes": len(d.passes),
                             "estimator": st.estimator, **st.row(i), "stable": int(bool(v and v.stable))})
    return len(measured)


def write_ofa_yaml(table: LatencyTable, out: Path) -> int:
    import yaml

    from lutnas.spaces import get_space

    style = ofa_yaml.style_for(table.meta.space)
    opts = table.meta.options
    layout = get_space(table.meta.space).layer_table(
        table.meta.resolution, width_mult=float(opts.get("width_mult", 1.0)),
        num_classes=int(opts.get("num_classes", 1000)))
    table.dense()  # raises naming missing blocks: an incomplete table is not exported
    measured, st = table.statistics()
    values = {}
    for i, d in enumerate(measured):
        samples = [s for p in d.kept for s in p.measurement.samples_ms]
        n = len(samples)
        mean = sum(samples) / n
        values[d.entry.key] = {"mean": float(st.estimate[i]), "count": n,
                               "var": sum((s - mean) ** 2 for s in samples) / (n - 1) if n > 1 else 0.0}
    overhead = [d.entry.key for d in measured if d.entry.role == "overhead"]
    if overhead:  # per-network cost of in-network tables: no key of its own; folded into the head
        head = layout.fixed[-1].key
        values[head] = {**values[head], "mean": values[head]["mean"] + sum(values[k]["mean"] for k in overhead),
                        "var": values[head]["var"] + sum(values[k]["var"] for k in overhead)}
    lut = ofa_yaml.to_yaml_dict(list(layout.unique_blocks().values()), values, style)
    header = (f"# lutnas table {table.id}: {table.meta.space} @ {table.meta.resolution}px, "
              f"{table.meta.target_name}/{table.meta.runtime}, {table.meta.threads} thread(s), "
              f"device {table.meta.fingerprint.get('cpu_model', '?')}\n"
              f"# mean = {table.estimator} (ms); the whole head (+ any per-network overhead) is on Conv_1, "
              f"other head keys 0.0\n")
    out.write_text(header + yaml.safe_dump(lut, sort_keys=True))
    return len(lut)


# -- import ------------------------------------------------------------------------------------------
def import_table(path: str | Path, db: str | Path, *, space: str | None = None, resolution: int | None = None,
                 target: str | None = None, runtime: str | None = None, into: str | None = None) -> ImportResult:
    """Import a lutnas JSON export or an OFA / ProxylessNAS YAML table into `db`."""
    path = Path(path)
    text = _read_importable(path)
    if import_format(path, text) == "json":
        return _import_json(path, text, db, into)
    if space is None or resolution is None:
        raise TableError(f"{path}: a YAML lookup table needs --space and --resolution (its keys do not say)")
    return _import_yaml(path, text, db, space, resolution, target, runtime, into)


IMPORTABLE = "a lutnas JSON export (`lutnas table export --format json`) or an OFA / ProxylessNAS YAML table"
ENTRY_FIELDS = ("key", "spec", "input_shape", "role", "passes")


def _read_importable(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TableError(f"{path}: cannot read ({err.strerror or err})") from None
    if data.startswith(b"SQLite format 3"):
        raise TableError(f"{path}: a SQLite database, not a table file; use it as --db, or `lutnas table export` "
                         f"from it; import reads {IMPORTABLE}")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise TableError(f"{path}: not a text file; import reads {IMPORTABLE}") from None


def import_format(path: Path, text: str) -> str:
    """"json" or "ofa-yaml", by extension and content; any other file is refused naming what import reads
    (a CSV export holds statistics only, never the raw samples a table is made of)."""
    suffix = path.suffix.lower()
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    if suffix == ".json" or text.lstrip().startswith("{"):
        return "json"
    if suffix == ".csv" or (first.count(",") >= 2 and ":" not in first):
        raise TableError(f"{path}: a CSV table (`table export --format csv`) holds statistics, not the raw "
                         f"samples, so it cannot be imported; import reads {IMPORTABLE}")
    if suffix not in ("", ".yaml", ".yml", ".txt"):
        raise TableError(f"{path}: unknown table file type {suffix!r}; import reads {IMPORTABLE}")
    return "ofa-yaml"


def _import_json(path: Path, text: str, db: str | Path, into: str | None) -> ImportResult:
    from lutnas.latency_tables.kernel_formats import KERNEL_JSON_FORMAT

    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and doc.get("format") == KERNEL_JSON_FORMAT:
            raise TableError(f"{path}: a kernel table export ({KERNEL_JSON_FORMAT}) is for reading, not importing: "
                             "its kernels are PrimFuncs of the lutnas and TVM that compiled them; profile the "
                             "models on this install with `lutnas profile --onnx`")
        meta = TableMeta(**doc["meta"])
        entries = doc["entries"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise TableError(f"{path}: not a lutnas table export ({type(err).__name__}: {err})") from None
    if doc.get("format") != JSON_FORMAT or doc.get("version") != JSON_VERSION:
        raise TableError(f"{path}: format {doc.get('format')!r} v{doc.get('version')!r}; this lutnas reads "
                         f"{JSON_FORMAT} v{JSON_VERSION}")
    if table_id_of(meta.identity()) != meta.id:
        raise TableError(f"{path}: table id {meta.id} does not match its metadata (edited file?)")
    return _write(db, meta, _json_rows(entries, path), into, path)


def _json_rows(entries: Any, path: Path) -> list[tuple[str, str, tuple[int, ...], str, list]]:
    """The export's entries as rows for `_write`, each checked; an entry key listed twice is refused
    (its passes would be stored twice and count double in every estimate)."""
    if not isinstance(entries, list):
        raise TableError(f"{path}: 'entries' must be a list of entries")
    rows, first_seen = [], {}
    for i, entry in enumerate(entries):
        row = _json_row(entry, i, path)
        if row[0] in first_seen:
            raise TableError(f"{path}: entries {first_seen[row[0]]} and {i} both have key {row[0]!r}; each "
                             "entry may be listed once (edited or concatenated file?)")
        first_seen[row[0]] = i
        rows.append(row)
    return rows


def _json_row(entry: Any, index: int, path: Path) -> tuple[str, str, tuple[int, ...], str, list]:
    if not isinstance(entry, dict):
        raise TableError(f"{path}: entry {index} is not an object with {', '.join(ENTRY_FIELDS)}")
    name = f"entry {index}" + (f" ({entry['key']})" if "key" in entry else "")
    absent = [f for f in ENTRY_FIELDS if f not in entry]
    if absent:
        raise TableError(f"{path}: {name} lacks {', '.join(repr(f) for f in absent)}")
    try:
        shape = tuple(int(d) for d in entry["input_shape"])
        passes = [_measurement(p, path) for p in entry["passes"]]
    except (TypeError, ValueError, AttributeError) as err:
        raise TableError(f"{path}: {name}: malformed ({type(err).__name__}: {err})") from None
    return str(entry["key"]), str(entry["spec"]), shape, str(entry["role"]), passes


def _measurement(record: dict[str, Any], path: Path) -> tuple[Measurement, str]:
    record = dict(record)
    runner = str(record.pop("runner", ""))
    try:
        return Measurement.from_dict(record), runner
    except TableError as err:
        raise TableError(f"{path}: {err}") from None


def _import_yaml(path: Path, text: str, db: str | Path, space_name: str, resolution: int, target: str | None,
                 runtime: str | None, into: str | None) -> ImportResult:
    import yaml

    from lutnas.spaces import get_space

    try:
        lut = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TableError(f"{path}: not YAML ({error_line(err)})") from None
    space = get_space(space_name)
    layout = space.layer_table(space.check_resolution(resolution))
    blocks = list(layout.unique_blocks().values())
    found, missing, unused = ofa_yaml.from_yaml_dict(lut, blocks, ofa_yaml.style_for(space.name))
    if not found:
        raise TableError(f"{path}: none of its {len(lut)} keys matches a block of {space.name} @ {resolution}px "
                         f"(e.g. {ofa_yaml.block_keys(blocks[-1], ofa_yaml.style_for(space.name))[0]})")
    sha = hashlib.sha256(text.encode()).hexdigest()
    meta = _yaml_meta(space.name, layout.resolution, target, runtime, path, sha)
    rows = []
    for block in blocks:
        if block.key in found:
            s = found[block.key]
            if s["mean"] <= 0:
                raise TableError(f"{path}: {s['keys'][0]}: mean {s['mean']} is not a positive latency")
            m = Measurement(samples_ms=(s["mean"],), inner_loops=1, warmup=0, threads=meta.threads, started_at=0.0,
                            ended_at=0.0, pass_no=1, runtime=meta.runtime, key=block.key,
                            meta={"imported": "ofa-yaml", "file": path.name, "sha256": sha, "keys": s["keys"],
                                  "summary": {k: s[k] for k in ("mean", "var", "count")}})
            rows.append((block.key, block.spec.encode(), block.input_shape, layout.role(block.key), [(m, "")]))
    result = _write(db, meta, rows, into, path)
    return replace(result, skipped=unused, missing=missing)


def _yaml_meta(space: str, resolution: int, target: str | None, runtime: str | None, path: Path,
               sha: str) -> TableMeta:
    if target is not None:
        from lutnas.lowering.targets import get_target

        spec = get_target(target)
        target_name, target_json, target_hash = spec.name, spec.canonical_json(), spec.target_hash()
    else:
        target_name, target_json, target_hash = "unknown", "{}", "unknown"
    fp = {"imported_from": "ofa-yaml", "file": path.name, "sha256": sha, "fingerprint_id": f"yaml-{sha[:12]}"}
    options = {"estimator": "median", "source": "ofa-yaml", "width_mult": 1.0, "num_classes": 1000}
    ident = {"space": space, "resolution": resolution, "target_json": target_json, "runtime": runtime or "unknown",
             "threads": 1, "pipeline": "unknown", "fingerprint_id": fp["fingerprint_id"], "options": options}
    return TableMeta(table_id_of(ident), space, resolution, target_name, target_json, target_hash,
                     runtime or "unknown", 1, "unknown", fp, fp["fingerprint_id"], options, time.time())


def _write(db: str | Path, meta: TableMeta, rows: list, into: str | None, path: Path) -> ImportResult:
    store = Store(db, create=True)
    try:
        if into is not None:
            target = LatencyTable(store, _resolve(store, into))
            _check_merge(target.meta, meta, path)
            meta = target.meta
        store.ensure_table(meta)
        ids = store.ensure_entries(meta.id, [(k, spec, shape, role) for k, spec, shape, role, _ in rows])
        have = {(p.entry_id, _signature(p.measurement)) for p in store.passes(meta.id)}
        added, dupes = 0, []
        for key, _, _, _, passes in rows:
            for m, runner in passes:
                if (ids[key], _signature(m)) in have:
                    dupes.append(f"{key} pass {m.pass_no}")
                    continue
                store.add_pass(ids[key], m, runner=runner)
                have.add((ids[key], _signature(m)))  # the same pass twice in one file is stored once
                added += 1
        return ImportResult(meta.id, len(rows), added, dupes, [])
    finally:
        store.close()


def _signature(m: Measurement) -> str:
    """A pass's identity regardless of its number in a table (merging the same pass twice is a no-op)."""
    d = m.to_dict()
    d.pop("pass_no")
    return json.dumps(d, sort_keys=True)


def _resolve(store: Store, table_id: str) -> str:
    ids = [i for i in store.table_ids() if i.startswith(table_id)]
    if len(ids) != 1:
        raise TableError(f"{store.path}: no table {table_id!r}; tables: {', '.join(store.table_ids()) or 'none'}")
    return ids[0]


def _check_merge(into: TableMeta, other: TableMeta, path: Path) -> None:
    found = [f"{name}: table has {getattr(into, name)!r}, {path.name} has {getattr(other, name)!r}"
             for name in ("space", "resolution", "target_json", "runtime", "threads", "pipeline")
             if getattr(into, name) != getattr(other, name)]
    device = fingerprint_mismatches(into.fingerprint, other.fingerprint)
    if not device and into.fingerprint_id != other.fingerprint_id:
        device = [f"device fingerprint: table {into.fingerprint_id}, {path.name} {other.fingerprint_id}"]
    found += device
    if found:
        raise TableError(f"refusing to merge {path} into table {into.id}: {'; '.join(found)}")


# -- listing -----------------------------------------------------------------------------------------
def table_summaries(db: str | Path) -> list[dict[str, Any]]:
    """One row per table of `db`: a search space's tables ("kind": "blocks"), then kernel tables
    (`kernel_formats.kernel_table_summaries`, "kind": "kernels")."""
    from lutnas.latency_tables.kernel_formats import kernel_table_summaries

    store = Store(db, create=False)
    try:
        out = []
        for tid in store.table_ids():
            t = LatencyTable(store, tid)
            data = t.entries()
            m = t.meta
            out.append({"kind": "blocks", "id": m.id, "space": m.space, "resolution": m.resolution, "target_name": m.target_name,
                        "runtime": m.runtime, "threads": m.threads, "pipeline": m.pipeline,
                        "fingerprint_id": m.fingerprint_id, "cpu_model": m.fingerprint.get("cpu_model", "?"),
                        "entries": len(data), "measured": sum(1 for d in data if d.passes),
                        "passes": sum(len(d.passes) for d in data), "options": m.options,
                        "attachments": store.attachment_names(tid), "created_at": m.created_at})
        return out + kernel_table_summaries(store)
    finally:
        store.close()
