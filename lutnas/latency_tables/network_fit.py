"""A table fitted to whole networks at profile time, so it predicts networks with no extra step.

Tables of fast kernels (the `lutnas-cpu` pipeline, tuned or not) miss the networks their blocks make
by one factor: a block timed alone keeps its weights in L1/L2, inside a network they come from further
out (`bench/cache_state.py`); with the network's boundaries (`jobs.BlockBoundary`) that is all that is
left, ~15% at 128 px here, proportional. `profile --fit-networks N` measures N networks right after
the blocks, in the same window, and stores a pure-scale fit (`calibration.py`) as the table's
calibration (source "profile"), with each network's latency then; `predict`, `search` and `export`
apply it with `--calibrated`, `validate` scores it on its own archs (leaving out any that coincide
with the fit's) and re-times the fit's networks as the table's drift anchors (`drift.fit_network_anchors`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.latency_tables.calibration import Calibration, fit_calibration, store_with_table

if TYPE_CHECKING:
    from lutnas.latency_tables.table import LatencyTable
    from lutnas.profiler.runners import Runner
    from lutnas.spaces import SearchSpace

FIT_SEED = 0x1F17   # the fit's archs; validate's --seed picks others (and coinciding rows are not scored)
AUTO_FIT_NETWORKS = 8
# With their network's boundaries (`jobs.BlockBoundary`) the blocks of a channels-last table miss their
# networks by one factor (hot caches; measured/predicted 1.15 +- 0.02 over 30 held-out proxyless
# archs @ 128 px): a pure scale, which a few networks of similar size pin down better than a line.
FIT_KIND = "scale"


def default_fit_count(runtime: str, pipeline: str) -> int:
    """How many networks `profile` fits to unless told: tables of untuned `tvm-default` kernels and
    onnxruntime's in-network tables already sum to their networks (docs/measurements/history.md),
    fast TVM kernels do not."""
    from lutnas.lowering.pipeline import DEFAULT_PIPELINE

    return AUTO_FIT_NETWORKS if runtime == "tvm" and pipeline != DEFAULT_PIPELINE else 0


def fit_archs(space: SearchSpace, count: int, seed: int = FIT_SEED) -> list[tuple[int, ...]]:
    """`count` distinct archs of the space (fewer if the space has fewer)."""
    rng = np.random.default_rng(seed)
    unique = list(dict.fromkeys(tuple(int(c) for c in a) for a in space.sample_many(rng, 8 * count)))
    return unique[:count]


def fit_on_networks(table: LatencyTable, archs: list[tuple[int, ...]], **measure: Any) -> Calibration:
    """Measure `archs` as whole networks the way the table was built, fit, store it with the table.

    `measure`: keyword arguments of `networks.measure_for_table` (runner, policy, progress, dirs).
    """
    from lutnas.latency_tables.networks import measure_for_table

    measured = measure_for_table(table, archs, **measure)
    predicted = table.dense().predict_latency(np.asarray(archs, dtype=np.int64))
    cal = fit_calibration(predicted, [m.latency_ms for m in measured], FIT_KIND, tuple(m.key for m in measured))
    store_with_table(table, cal, source="profile", fit_archs=[list(a) for a in archs],
                     fit_ms=[m.latency_ms for m in measured])
    return cal


def fit_networks_then(table: LatencyTable) -> dict[tuple[int, ...], float]:
    """Arch -> latency (ms) of each network the table's profile-time fit measured (empty without
    one): `validate` re-times them as the table's drift anchors (`drift.anchors_for`)."""
    doc = table.calibration or {}
    if doc.get("source") != "profile" or "fit_ms" not in doc:
        return {}
    return {tuple(int(c) for c in a): float(ms) for a, ms in zip(doc.get("fit_archs", ()), doc["fit_ms"])}


def fit_stored_table(db: str | Path, table_id: str, count: int, *, runner: Runner | None = None,
                     tuning_db: Path | None = None, progress: bool = False) -> Calibration:
    """`profile --fit-networks`: fit the finished table in `db` to `count` whole networks of its space
    (`fit_archs`), measured by `runner` (here by default), and store the fit with it."""
    from lutnas.latency_tables.table import open_table
    from lutnas.spaces import get_space

    table = open_table(db, table_id)
    try:
        archs = fit_archs(get_space(table.meta.space), count)
        return fit_on_networks(table, archs, runner=runner, progress=progress, tuning_db=tuning_db)
    finally:
        table.close()


def fit_line(cal: Calibration) -> str:
    line = f"{cal.a:.3f} x table" + (f" + {cal.b:.3f} ms" if cal.kind == "linear" else "")
    return (f"fitted to {cal.n_fit} whole network(s): measured = {line} "
            f"(residual {cal.rel_sigma:.1%} RMS); predict / search / export --calibrated apply it, "
            "validate scores it on other archs")
