"""Optional calibration of a latency table against measured whole networks (off by default).

A block LUT predicts `fixed + sum(entries)`; what it cannot see (per-invocation cost counted once
per block, cache state, cross-block fusion) shows up as a systematic error against whole networks.
nn-Meter corrects such errors by learning on measured networks; the cheapest honest version is a
linear map `measured ~= a * predicted + b` (or a pure scale, `b = 0`), fitted by least squares on a
subset of measured archs and scored only on the rest. Because the map is linear, it folds into the
dense table itself: entries scale by `a`, the fixed cost becomes `a * fixed + b`, and the relative
residual of the fit becomes the table's `rel_sigma` (widening prediction intervals), so search and
`predict` use a calibrated table with no change to the numba kernel.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.errors import TableError

if TYPE_CHECKING:
    from lutnas.latency_tables.dense import DenseTable
    from lutnas.latency_tables.table import LatencyTable

KINDS = ("linear", "scale")


@dataclass(frozen=True)
class Calibration:
    kind: str                  # "linear" (a, b) | "scale" (a, b = 0)
    a: float
    b: float
    rel_sigma: float           # RMS relative residual on the fit set
    n_fit: int
    fit_keys: tuple[str, ...]  # which networks were used to fit (never scored)

    def apply(self, predicted: Any) -> np.ndarray:
        return self.a * np.asarray(predicted, dtype=np.float64) + self.b

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fit_keys"] = list(self.fit_keys)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        try:
            cal = cls(kind=str(data["kind"]), a=float(data["a"]), b=float(data["b"]),
                      rel_sigma=float(data["rel_sigma"]), n_fit=int(data["n_fit"]),
                      fit_keys=tuple(data.get("fit_keys", ())))
        except (KeyError, TypeError, ValueError) as err:
            raise TableError(f"bad calibration record: {err}") from None
        if cal.kind not in KINDS or not (math.isfinite(cal.a) and cal.a > 0 and math.isfinite(cal.b)):
            raise TableError(f"bad calibration record: kind {cal.kind!r}, a={cal.a}, b={cal.b}")
        return cal


def store_with_table(table: LatencyTable, cal: Calibration, **extra: Any) -> None:
    """Keep `cal` with the table as its "calibration" attachment (outside the table identity), with
    what its writer adds (`validate`: held-out scores; `profile`: the fit's source and archs)."""
    from lutnas.latency_tables.store import Store

    with Store(table.path, create=True) as store:
        store.set_attachment(table.id, "calibration", cal.to_dict() | extra)


def fit_calibration(predicted: Any, measured: Any, kind: str = "linear",
                    keys: tuple[str, ...] = ()) -> Calibration:
    """Least-squares fit in relative terms (each network weighs the same whatever its latency)."""
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    if kind not in KINDS:
        raise TableError(f"unknown calibration kind {kind!r}; valid: {', '.join(KINDS)}")
    need = 2 if kind == "linear" else 1
    if p.shape != m.shape or p.size < need + 1:
        raise TableError(f"calibration needs at least {need + 1} measured networks, got {p.size}")
    # minimise sum(((a p + b - m) / m)^2): weighted least squares with weights 1 / m
    w = 1.0 / m
    cols = [p * w] if kind == "scale" else [p * w, w]
    coef, *_ = np.linalg.lstsq(np.stack(cols, axis=1), np.ones_like(m), rcond=None)
    a = float(coef[0])
    b = float(coef[1]) if kind == "linear" else 0.0
    if kind == "linear" and not a > 0:
        # a few noisy, similar networks can tilt the line through zero: fall back to a pure scale
        return fit_calibration(p, m, "scale", keys)
    if not a > 0:
        raise TableError(f"calibration fit is degenerate (a={a:.3g}): predictions do not track measurements")
    resid = (a * p + b - m) / m
    return Calibration(kind, a, b, float(np.sqrt(np.mean(resid**2))), int(p.size), tuple(keys))


def apply_to_dense(dense: DenseTable, cal: Calibration) -> DenseTable:
    """The DenseTable with the linear map folded in (entries * a, fixed * a + b, rel_sigma set)."""
    return replace(
        dense,
        fixed_ms=cal.a * dense.fixed_ms + cal.b,
        fixed_var_ms2=cal.a**2 * dense.fixed_var_ms2,
        latency_ms=cal.a * dense.latency_ms,
        var_ms2=cal.a**2 * dense.var_ms2,
        rel_sigma=cal.rel_sigma,
    )


def split_fit_score(n: int, fit_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint index sets (fit, score), a seeded permutation; at least 3 to fit and 1 to score."""
    if not 0.0 < fit_fraction < 1.0:
        raise TableError(f"fit fraction must be in (0, 1), got {fit_fraction}")
    n_fit = max(3, round(n * fit_fraction))
    if n - n_fit < 1:
        raise TableError(f"calibration needs at least 4 archs (3 to fit, 1 to score), got {n}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_fit]), np.sort(order[n_fit:])

