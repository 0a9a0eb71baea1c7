"""The dense latency table search and `lutnas predict` consume, and its parallel numba predictor.

The additive latency model of ProxylessNAS / FBNet / Once-for-All lookup tables: a network's latency
is the fixed cost (stem, fixed blocks, head) plus, per searchable layer, the cost of the chosen
candidate, `LUT[layer, choice]`. Because a block's input shape never depends on other layers'
choices (lutnas.spaces invariant), the table is a dense `[layers x max_choices]` float64 array:
skip choices cost 0.0 and choices a layer does not have are NaN.

`predict(archs)` sums the chosen entries of each arch and, alongside, the variances of the entries'
estimates (independent estimates: variances add). The interval is `latency +/- z * sqrt(var)` with
z = 1.96 by default: a 95% interval for *the table's estimate* of the sum (how well the samples pin
the per-block latencies down), not for how well block sums predict whole networks. When the table
carries a calibration (its relative error against measured whole networks, `rel_sigma`), that error
is added in quadrature: `var + (rel_sigma * latency)^2`.

The kernels (`kernels.py`) read int8 archs row by row (contiguous `[N, L]`: 8x less memory traffic
than int64) from a padded table in which every int8 value is a valid slot and every slot that is
not a choice holds NaN, so an invalid choice makes its arch's sum NaN without a branch; `predict`
then names the first bad layer. Wider integer input is range-checked in numpy and narrowed first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lutnas.errors import ArchError, TableError

Z_95 = 1.959963984540054
_OFF = 128   # kernels.PAD // 2: slot of choice 0 in a layer's 256-slot row


def _padded(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """[L, C] -> flat [L * 256]: choice c of layer l at l * 256 + 128 + c, NaN in every other slot."""
    out = np.full((values.shape[0], 2 * _OFF), np.nan)
    out[:, _OFF:_OFF + values.shape[1]] = np.where(present, values, np.nan)
    return out.ravel()


@dataclass(frozen=True)
class Prediction:
    latency_ms: np.ndarray   # [N]
    low_ms: np.ndarray       # [N]
    high_ms: np.ndarray      # [N]

    def __len__(self) -> int:
        return len(self.latency_ms)


@dataclass(frozen=True)
class DenseTable:
    """Layers x choices latency estimates plus a fixed cost; see the module docstring."""

    space: str
    resolution: int
    fixed_ms: float
    fixed_var_ms2: float
    latency_ms: np.ndarray          # float64 [L, C_max]; skip = 0.0; choice not in layer = NaN
    var_ms2: np.ndarray             # float64 [L, C_max]; variance of each entry's estimate
    num_choices: np.ndarray         # int64 [L]
    rel_sigma: float = 0.0          # relative error of a calibration against whole networks (0: none)
    table_id: str = ""
    choice_names: tuple[tuple[str, ...], ...] | None = None   # for error messages; None = indices only
    _flat: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lat = np.ascontiguousarray(self.latency_ms, dtype=np.float64)
        var = np.ascontiguousarray(self.var_ms2, dtype=np.float64)
        counts = np.ascontiguousarray(self.num_choices, dtype=np.int64)
        if lat.ndim != 2 or var.shape != lat.shape or counts.shape != (lat.shape[0],):
            raise TableError(
                f"dense table for {self.space!r}: latency {lat.shape}, variance {var.shape} and "
                f"num_choices {counts.shape} do not form [L, C] / [L, C] / [L]"
            )
        if counts.size and (counts.min() < 1 or counts.max() > lat.shape[1]):
            raise TableError(f"dense table for {self.space!r}: num_choices {counts.tolist()} outside 1..{lat.shape[1]}")
        present = np.arange(lat.shape[1])[None, :] < counts[:, None]
        holes = present & ~(np.isfinite(lat) & np.isfinite(var))
        if holes.any():
            layer, choice = (int(i) for i in np.argwhere(holes)[0])
            raise TableError(f"dense table for {self.space!r}: layer {layer} choice {choice} has no finite estimate")
        set_ = object.__setattr__
        set_(self, "latency_ms", lat)
        set_(self, "var_ms2", var)
        set_(self, "num_choices", counts)
        if lat.shape[1] > _OFF:
            raise TableError(f"dense table for {self.space!r}: {lat.shape[1]} choices per layer; at most {_OFF}")
        set_(self, "_flat", (_padded(lat, present), _padded(var, present)))

    @property
    def num_layers(self) -> int:
        return int(self.latency_ms.shape[0])

    @property
    def max_choices(self) -> int:
        return int(self.latency_ms.shape[1])

    def predict(self, archs: Any, z: float = Z_95) -> Prediction:
        """Latency and interval for each arch of an `[N, L]` integer array (or one arch `[L]`)."""
        from lutnas.latency_tables.kernels import predict_kernel

        a = self._as_archs(archs)
        lat, low, high = (np.empty(a.shape[0]) for _ in range(3))
        bad = predict_kernel(a, self._flat[0], self._flat[1], float(self.fixed_ms), float(self.fixed_var_ms2),
                             float(z), float(self.rel_sigma), lat, low, high)
        if bad:
            self._raise_invalid(a, lat)
        return Prediction(lat, low, high)

    def predict_latency(self, archs: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Point estimates only (no interval): the search inner loop and the throughput bench.

        `out`, a float64 array of N, is filled and returned instead of a new array, so a loop that
        predicts batch after batch does not pay for fresh pages every call.
        """
        from lutnas.latency_tables.kernels import latency_kernel

        a = self._as_archs(archs)
        lat = np.empty(a.shape[0]) if out is None else out
        if lat.shape != (a.shape[0],) or lat.dtype != np.float64 or not lat.flags.c_contiguous:
            raise ArchError(f"out must be a contiguous float64 array of {a.shape[0]}, got {lat.dtype} {lat.shape}")
        bad = latency_kernel(a, self._flat[0], float(self.fixed_ms), lat)
        if bad:
            self._raise_invalid(a, lat)
        return lat

    # -- input checks ------------------------------------------------------------------------------
    def _as_archs(self, archs: Any) -> np.ndarray:
        """A C-contiguous int8 [N, L] view/copy; wider integer input is range-checked here first."""
        a = np.asarray(archs)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != self.num_layers:
            raise ArchError(
                f"{self.space}: archs must be [N, {self.num_layers}] (one choice per layer), got shape {a.shape}"
            )
        if a.dtype == np.uint8:
            a = a.view(np.int8)          # 128..255 become negative: NaN slots, reported below
        elif a.dtype != np.int8:
            if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                a = a.astype(np.int64)
            elif a.dtype.kind not in "iu" and a.size:
                raise ArchError(f"{self.space}: arch choices must be integers, got dtype {a.dtype}")
            outside = (a < 0) | (a >= self.num_choices)
            if outside.any():
                self._raise_invalid(a, np.where(outside.any(axis=1), np.nan, 0.0))
            a = a.astype(np.int8)
        return np.ascontiguousarray(a)

    def _raise_invalid(self, archs: np.ndarray, lat: np.ndarray) -> None:
        i = int(np.flatnonzero(np.isnan(lat))[0])
        row = archs[i].astype(np.int64)
        layer = int(np.flatnonzero((row < 0) | (row >= self.num_choices))[0])
        raise ArchError(
            f"{self.space}: arch {i}: layer {layer}: choice {row[layer]} is not in the table; "
            f"valid: {self._valid_text(layer)}"
        )

    def _valid_text(self, layer: int) -> str:
        n = int(self.num_choices[layer])
        if self.choice_names is not None:
            return ", ".join(f"{i}={name}" for i, name in enumerate(self.choice_names[layer][:n]))
        return f"0..{n - 1}"
