"""What was timed (`MeasureJob`) and what came out (`Measurement`), kept apart.

Modelled on pyperf's benchmark record (`pyperf/_bench.py`) and torch.utils.benchmark's split between
a frozen, hashable task spec and its result: a measurement keeps the raw per-call samples of one
pass, the number of calls behind each sample (`inner_loops`), how many untimed warm-up calls ran,
the thread count and the wall-clock span. Statistics (median, IQR, coefficient of variation) are
computed lazily from the samples and never stored instead of them; the whole-table aggregation
in numba lives in `lutnas.latency_tables`.

The JSON form carries a `format` version so that older records keep loading.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from lutnas.errors import LutnasError, TableError

FORMAT_VERSION = 1
RUNTIMES = ("tvm", "onnxruntime")

# One sample should cover at least this many milliseconds of back-to-back calls. 20 ms amortizes
# timer and Python-loop overhead (~1-30 us per call) to well under 1%, spans several scheduler
# ticks (4 ms at HZ=250) so one preemption moves a sample by a bounded fraction, and keeps a
# 10-repeat pass at ~0.2 s per block, so a table of a few hundred blocks profiles in minutes.
DEFAULT_MIN_REPEAT_MS = 20.0
DEFAULT_REPEATS = 10
DEFAULT_WARMUP = 3


@dataclass(frozen=True)
class MeasureJob:
    """A frozen, hashable spec of one thing to time; `key` names it (e.g. a LUT block key).

    runtime "tvm" needs `library_path` (an exported Relax VM library); runtime "onnxruntime"
    needs `onnx_path`. `target` is the lowering target name the library was built for.
    """

    key: str
    input_shape: tuple[int, ...]
    runtime: str = "tvm"
    library_path: Path | None = None
    onnx_path: Path | None = None
    target: str = "x86"
    threads: int = 1
    repeats: int = DEFAULT_REPEATS
    min_repeat_ms: float = DEFAULT_MIN_REPEAT_MS
    warmup: int = DEFAULT_WARMUP
    input_name: str = "input"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "input_shape", tuple(int(d) for d in self.input_shape))
        for name in ("library_path", "onnx_path"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, Path(value))
        if self.runtime not in RUNTIMES:
            raise LutnasError(f"unknown runtime {self.runtime!r}; valid: {', '.join(RUNTIMES)}")
        if self.runtime == "tvm" and self.library_path is None:
            raise LutnasError(f"job {self.key!r}: runtime 'tvm' needs a compiled library path")
        if self.runtime == "onnxruntime" and self.onnx_path is None:
            raise LutnasError(f"job {self.key!r}: runtime 'onnxruntime' needs an ONNX path")
        if self.repeats < 1 or self.threads < 1 or self.warmup < 0 or self.min_repeat_ms < 0:
            raise LutnasError(
                f"job {self.key!r}: need repeats >= 1, threads >= 1, warmup >= 0, min_repeat_ms >= 0"
            )
        if not self.input_shape or min(self.input_shape) < 1:
            raise LutnasError(f"job {self.key!r}: bad input shape {self.input_shape}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        for name in ("library_path", "onnx_path"):
            out[name] = None if out[name] is None else str(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeasureJob:
        return cls(**data)


@dataclass(frozen=True)
class Measurement:
    """One pass of raw samples: each sample is the mean time of one call over `inner_loops` calls."""

    samples_ms: tuple[float, ...]
    inner_loops: int
    warmup: int
    threads: int
    started_at: float
    ended_at: float
    pass_no: int
    runtime: str
    key: str = ""
    unstable: bool = False
    unstable_reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples_ms", tuple(float(s) for s in self.samples_ms))
        if not self.samples_ms:
            raise ValueError("a measurement needs at least one sample")
        if not all(math.isfinite(s) and s > 0 for s in self.samples_ms):
            raise ValueError(f"samples must be positive and finite: {self.samples_ms}")
        if self.inner_loops < 1:
            raise ValueError("inner_loops must be >= 1")

    # -- lazy statistics (plain Python on one pass; numba handles whole tables) -------------------
    @property
    def n(self) -> int:
        return len(self.samples_ms)

    @cached_property
    def sorted_ms(self) -> tuple[float, ...]:
        return tuple(sorted(self.samples_ms))

    @property
    def min_ms(self) -> float:
        return self.sorted_ms[0]

    @property
    def max_ms(self) -> float:
        return self.sorted_ms[-1]

    @cached_property
    def mean_ms(self) -> float:
        return math.fsum(self.samples_ms) / self.n

    @cached_property
    def median_ms(self) -> float:
        return _quantile(self.sorted_ms, 0.5)

    @cached_property
    def iqr_ms(self) -> float:
        return _quantile(self.sorted_ms, 0.75) - _quantile(self.sorted_ms, 0.25)

    @cached_property
    def stdev_ms(self) -> float:
        if self.n < 2:
            return 0.0
        mean = self.mean_ms
        return math.sqrt(math.fsum((s - mean) ** 2 for s in self.samples_ms) / (self.n - 1))

    @property
    def cv(self) -> float:
        """Coefficient of variation: sample stdev / mean (pyperf warns at >= 10%)."""
        return self.stdev_ms / self.mean_ms

    @property
    def total_calls(self) -> int:
        return self.n * self.inner_loops

    def flagged(self, unstable: bool, reason: str = "") -> Measurement:
        return replace(self, unstable=unstable, unstable_reason=reason if unstable else "")

    # -- JSON --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "samples_ms": list(self.samples_ms),
            "inner_loops": self.inner_loops,
            "warmup": self.warmup,
            "threads": self.threads,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "pass_no": self.pass_no,
            "runtime": self.runtime,
            "key": self.key,
            "unstable": self.unstable,
            "unstable_reason": self.unstable_reason,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        version = data.get("format")
        if version != FORMAT_VERSION:
            raise TableError(f"measurement record has format {version!r}; this lutnas reads {FORMAT_VERSION}")
        fields = {k: v for k, v in data.items() if k != "format"}
        try:
            return cls(**fields)
        except (TypeError, ValueError) as err:
            raise TableError(f"bad measurement record: {err}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise TableError(f"measurement record is not JSON: {err}") from None
        if not isinstance(data, dict):
            raise TableError("measurement record must be a JSON object")
        return cls.from_dict(data)


def _quantile(sorted_values: tuple[float, ...], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of already sorted values."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
