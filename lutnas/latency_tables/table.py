"""A latency table read from the store: metadata, raw passes, statistics, the dense LUT, and checks.

`open_table(db, table_id=None)` picks one table of a database (the only one by default) and
returns a `LatencyTable`. Statistics are recomputed from the stored raw samples every time (pyperf:
never stored instead of them) with the numba kernels of `stats`; `dense()` lays them out as the
`[layers x choices]` array of `DenseTable` using the space's own `layer_table()`. Using a table
for another space, resolution, target, runtime or device is refused by `check_compatible()` with
every mismatched field named, the way pyperf refuses to merge runs whose checked metadata differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.errors import TableError
from lutnas.latency_tables.dense import DenseTable
from lutnas.latency_tables.stats import DEFAULT_ESTIMATOR, EntryStats, entry_stats, flatten_passes
from lutnas.latency_tables.store import EntryRow, PassRow, Store, TableMeta
from lutnas.lowering.targets import TargetSpec
from lutnas.profiler.fingerprint import ID_FIELDS
from lutnas.profiler.measurement import Measurement
from lutnas.profiler.stability import DEFAULT_POLICY, StabilityPolicy, Verdict, verdict

if TYPE_CHECKING:
    from lutnas.latency_tables.footprint import FootprintCheck, FootprintFit
    from lutnas.latency_tables.network_context import NetworkContext
    from lutnas.spaces.base import LayerTable


@dataclass(frozen=True)
class EntryData:
    entry: EntryRow
    passes: tuple[PassRow, ...]

    @property
    def kept(self) -> tuple[PassRow, ...]:
        """The passes the stability verdict pools: stable on their own, or all when none is."""
        calm = tuple(p for p in self.passes if not p.unstable)
        return calm or self.passes

    @property
    def measurements(self) -> list[Measurement]:
        return [p.measurement for p in self.passes]


def open_table(db_path: str | Path, table_id: str | None = None) -> LatencyTable:
    """The table `table_id` of a database, or its only table; TableError when absent or ambiguous."""
    store = Store(db_path, create=False)
    ids = store.table_ids()
    if table_id is None:
        if not ids:
            raise TableError(f"{store.path}: the database holds no table yet (run lutnas profile)")
        if len(ids) > 1:
            raise TableError(f"{store.path}: holds {len(ids)} tables, pick one with --table: {', '.join(ids)}")
        table_id = ids[0]
    matches = [i for i in ids if i == table_id] or [i for i in ids if i.startswith(table_id)]
    if len(matches) != 1:
        raise TableError(f"{store.path}: no table {table_id!r}; tables: {', '.join(ids) or 'none'}")
    return LatencyTable(store, matches[0])


class LatencyTable:
    def __init__(self, store: Store, table_id: str) -> None:
        self.store = store
        self.meta: TableMeta = store.table_meta(table_id)

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def estimator(self) -> str:
        return str(self.meta.options.get("estimator", DEFAULT_ESTIMATOR))

    def close(self) -> None:
        self.store.close()

    # -- raw data ----------------------------------------------------------------------------------
    def entries(self) -> list[EntryData]:
        by_entry: dict[int, list[PassRow]] = {}
        for p in self.store.passes(self.id):
            by_entry.setdefault(p.entry_id, []).append(p)
        return [EntryData(e, tuple(by_entry.get(e.id, ()))) for e in self.store.entries(self.id)]

    def verdicts(self, policy: StabilityPolicy = DEFAULT_POLICY) -> dict[str, Verdict | None]:
        """Per entry key, the stability verdict over its stored passes (None: never measured)."""
        return {d.entry.key: verdict(d.measurements, policy) if d.passes else None for d in self.entries()}

    @property
    def calibration(self) -> dict[str, Any] | None:
        """The 'calibration' attachment (written by `validate --calibrate` or `profile --fit-networks`), or None."""
        return self.store.attachment(self.id, "calibration")

    # -- statistics --------------------------------------------------------------------------------
    def statistics(self, estimator: str | None = None, n_boot: int = 1000,
                   seed: int = 0) -> tuple[list[EntryData], EntryStats]:
        """Statistics over the kept passes of every measured entry (entries without passes are left out)."""
        measured = [d for d in self.entries() if d.passes]
        if not measured:
            raise TableError(f"{self.path}: table {self.id} has no measured entry yet")
        samples, offsets, pass_offsets = flatten_passes([[p.measurement.samples_ms for p in d.kept] for d in measured])
        st = entry_stats(samples, offsets, estimator or self.estimator, n_boot, seed, pass_offsets=pass_offsets)
        for i, d in enumerate(measured):
            summaries = [p.measurement.meta.get("summary") for p in d.kept]
            if all(summaries):  # imported {mean, var, count}: the variance of a mean of `count` samples
                st.var[i] = sum(s["var"] / s["count"] if s["count"] else 0.0 for s in summaries) / len(summaries) ** 2
        return measured, st

    def layout(self) -> LayerTable:
        """The table's space laid out at its resolution, width and classes: its blocks per cell."""
        from lutnas.spaces import get_space

        opts = self.meta.options
        return get_space(self.meta.space).layer_table(
            self.meta.resolution, width_mult=float(opts.get("width_mult", 1.0)),
            num_classes=int(opts.get("num_classes", 1000)))

    def dense(self, calibrated: bool = False, context: bool = True) -> DenseTable:
        """The `[layers x choices]` LUT; missing measurements -> TableError naming the block keys.

        A table with a measured network context (`network_context`: TVM tables of channels-last
        blocks) predicts its blocks as timed in that run through the context's factors, an in-network
        table its entries through its footprint fit where it has one (`footprint`), unless
        `context=False` (the profile's blocks as measured). `calibrated=True` folds the stored
        calibration (`calibration.apply_to_dense`) in.
        """
        from lutnas.latency_tables.network_context import (
            apply_context,
            context_factors,
            context_weights,
            stored_context,
        )

        ctx = stored_context(self) if context else None
        table = self.blocks_dense(ctx)
        if ctx is not None:
            table = apply_context(table, context_factors(table, ctx, context_weights(self.layout(), ctx)))
        elif context and (found := self.footprint_fit(table)) is not None:
            from lutnas.latency_tables.footprint import with_footprint

            table = with_footprint(table, *found)
        if calibrated:
            cal = self.calibration
            if cal is None:
                raise TableError(f"table {self.id} has no calibration (lutnas profile --fit-networks N or validate --calibrate stores one)")
            from lutnas.latency_tables.calibration import Calibration, apply_to_dense

            table = apply_to_dense(table, Calibration.from_dict(cal))
        return table

    def blocks_dense(self, ctx: NetworkContext | None = None) -> DenseTable:
        """The LUT of the blocks as measured: the profile's estimates, or with `ctx` the blocks as timed
        in the context's run (what its networks' ratios divide)."""
        layout = self.layout()
        measured, st = self.statistics()
        est = {d.entry.key: (float(st.estimate[i]), float(st.var[i])) for i, d in enumerate(measured)}
        if ctx is not None:
            est = {k: (ctx.block_ms.get(k, v[0]), v[1]) for k, v in est.items()}
        overhead = [d.entry.key for d in self.entries() if d.entry.role == "overhead"]
        missing = [k for k in (*layout.unique_blocks(), *overhead) if k not in est]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise TableError(f"table {self.id} lacks measurements of {len(missing)} block(s): "
                             f"{', '.join(missing[:5])}{more}; re-run lutnas profile to finish it")
        lat = np.full((len(layout.cells), layout.max_choices), np.nan)
        var = np.full_like(lat, np.nan)
        for layer, row in enumerate(layout.cells):
            for c, block in enumerate(row):
                lat[layer, c], var[layer, c] = (0.0, 0.0) if block is None else est[block.key]
        fixed_keys = [b.key for b in layout.fixed] + overhead   # overhead entries: once per network
        return DenseTable(
            space=self.meta.space, resolution=self.meta.resolution,
            fixed_ms=sum(est[k][0] for k in fixed_keys), fixed_var_ms2=sum(est[k][1] for k in fixed_keys),
            latency_ms=lat, var_ms2=var, num_choices=np.asarray(layout.num_choices, dtype=np.int64),
            table_id=self.id, choice_names=layout.choice_names)

    def footprint_fit(self, entries: DenseTable) -> tuple[FootprintFit, tuple[np.ndarray, float]] | None:
        """An in-network table's footprint fit with the cells' weights where `footprint_check` keeps it;
        None otherwise."""
        check = self.footprint_check(entries)
        return (check.fit, check.weights) if check is not None and check.used else None

    def footprint_check(self, entries: DenseTable) -> FootprintCheck | None:
        """An in-network table's footprint fit (`footprint.fit_networks`) over the networks its profile
        timed, against `entries` (its dense table as measured), weighed against the entries alone on
        those networks, each left out in turn (`covering.footprint_fits`); None for other tables, for
        those profiled before the weights were kept, and where the networks allow no fit."""
        from lutnas.latency_tables.covering import footprint_fits
        from lutnas.latency_tables.footprint import (
            FootprintCheck,
            fit_networks,
            layout_weights,
            profiled_networks_then,
            stored_block_mb,
        )

        if self.meta.options.get("measure_mode") != "in-network":
            return None
        block_mb = stored_block_mb(self)
        weights = layout_weights(self.layout(), block_mb)
        fit = None if weights is None else fit_networks(entries, profiled_networks_then(self), weights)
        scored = None if fit is None else footprint_fits([d for d in self.entries() if d.passes], self.estimator,
                                                         fit, block_mb)
        if scored is None:
            return None
        plain, through = scored
        check = FootprintCheck(fit, weights, plain.held_out.rms, through.held_out.rms)
        return replace(check, covering=through if check.used else plain)

    # -- compatibility -----------------------------------------------------------------------------
    def mismatches(self, *, space: str | None = None, resolution: int | None = None,
                   target: str | dict[str, Any] | TargetSpec | None = None,
                   runtime: str | None = None, threads: int | None = None,
                   fingerprint: dict[str, Any] | None = None) -> list[str]:
        """One line per field where the table differs from what it is used with (None = not checked)."""
        m = self.meta
        out = []
        for name, mine, asked in (("space", m.space, space), ("resolution", m.resolution, resolution),
                                  ("runtime", m.runtime, runtime), ("threads", m.threads, threads)):
            if asked is not None and mine != asked:
                out.append(f"{name}: table has {mine!r}, asked {asked!r}")
        if target is not None:
            asked_json = _target_json(target)
            if asked_json is not None and asked_json != m.target_json:
                out.append(f"target: table has {m.target_name} {m.target_json}, asked {asked_json}")
            elif asked_json is None and str(target) != m.target_name:
                out.append(f"target: table has {m.target_name!r}, asked {target!r}")
        if fingerprint is not None:
            out.extend(fingerprint_mismatches(m.fingerprint, fingerprint))
        return out

    def check_compatible(self, *, space: str | None = None, resolution: int | None = None,
                         target: str | dict[str, Any] | TargetSpec | None = None,
                         runtime: str | None = None, threads: int | None = None,
                         fingerprint: dict[str, Any] | None = None, allow_mismatch: bool = False) -> list[str]:
        """Raise TableError naming every mismatch, or with `allow_mismatch` return them (to record)."""
        found = self.mismatches(space=space, resolution=resolution, target=target, runtime=runtime,
                                threads=threads, fingerprint=fingerprint)
        if found and not allow_mismatch:
            raise TableError(f"table {self.id} ({self.path}) does not match: {'; '.join(found)} "
                             f"(--allow-mismatch to use it anyway)")
        return found


def fingerprint_mismatches(table_fp: dict[str, Any], other_fp: dict[str, Any]) -> list[str]:
    """Device-fingerprint identity fields that differ, versions named per package."""
    out = []
    for key in ID_FIELDS:
        a, b = table_fp.get(key), other_fp.get(key)
        if a == b:
            continue
        if key == "versions" and isinstance(a, dict) and isinstance(b, dict):
            for pkg in sorted(set(a) | set(b)):
                if a.get(pkg) != b.get(pkg):
                    out.append(f"{pkg} version: table has {a.get(pkg)}, here {b.get(pkg)}")
        else:
            out.append(f"device {key}: table has {a!r}, here {b!r}")
    return out


def _target_json(target: str | dict[str, Any] | TargetSpec) -> str | None:
    """Canonical target JSON of a TargetSpec / dict / JSON text / registered name."""
    if isinstance(target, TargetSpec):
        return target.canonical_json()
    if isinstance(target, dict):
        return json.dumps(target, sort_keys=True, separators=(",", ":"))
    if isinstance(target, str) and target.lstrip().startswith("{"):
        return json.dumps(json.loads(target), sort_keys=True, separators=(",", ":"))
    if isinstance(target, str):
        from lutnas.lowering.targets import get_target

        return get_target(target).canonical_json()
    return None


def unused_calibration_note(db: str | Path, table_id: str | None) -> str | None:
    """The note for a command run without `--calibrated` on a table that has a calibration (a table
    fitted to whole networks predicts them better with its fit); None when it has none."""
    table = open_table(db, table_id)
    try:
        cal = table.calibration
    finally:
        table.close()
    if not cal:
        return None
    return (f"note: the table has a calibration fitted on {cal.get('n_fit')} whole network(s) "
            f"(x{float(cal.get('a', 1)):.3f}); --calibrated applies it")
