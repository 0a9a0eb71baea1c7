"""Numerical agreement of the lowered model with PyTorch (the check every deployment flow needs).

One seeded random input goes through the PyTorch module (reference), onnxruntime and, where this
machine can execute it, the TVM build. Each backend passes when
`max|y - y_ref| <= atol + rtol * max|y_ref|`: a tolerance relative to the output's scale, because
conv nets' logits span orders of magnitude and float32 reassociation errors scale with them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lutnas.errors import NumericsError

RTOL = 1e-3
ATOL = 1e-4


@dataclass(frozen=True)
class BackendResult:
    backend: str  # "onnxruntime" | "tvm:<target>"
    ran: bool
    max_abs: float | None = None
    max_rel: float | None = None  # max_abs / max|y_ref|
    ok: bool | None = None  # None when not run
    note: str = ""  # why it did not run

    def describe(self) -> str:
        if not self.ran:
            return f"{self.backend} not run ({self.note})"
        verdict = "ok" if self.ok else "FAIL"
        return f"{self.backend} {verdict} (abs {self.max_abs:.2e}, rel {self.max_rel:.2e})"


@dataclass(frozen=True)
class NumericsReport:
    input_shape: tuple[int, ...]
    seed: int
    rtol: float
    atol: float
    ref_scale: float  # max |y_ref|
    results: tuple[BackendResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok is not False for r in self.results)

    @property
    def summary(self) -> str:
        head = "numerics ok" if self.ok else "numerics FAILED"
        tol = f"tol {self.atol:g} + {self.rtol:g}*{self.ref_scale:.3g}"
        return f"{head} vs torch ({tol}): " + "; ".join(r.describe() for r in self.results)

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise NumericsError(self.summary)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "summary": self.summary,
            "seed": self.seed,
            "rtol": self.rtol,
            "atol": self.atol,
            "ref_scale": self.ref_scale,
            "results": [r.__dict__ for r in self.results],
        }


def check_numerics(
    module: Any,
    onnx_path: str | Path,
    built: Any = None,
    input_shape: tuple[int, ...] | None = None,
    seed: int = 0,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> NumericsReport:
    """Compare onnxruntime and (if given and runnable here) the TVM `built` module with torch."""
    import numpy as np
    import torch

    from lutnas.lowering.ort import ort_session

    shape = tuple(input_shape if input_shape is not None else built.input_shape)
    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    with torch.no_grad():
        ref = copy.deepcopy(module).eval()(torch.from_numpy(x.copy())).numpy()
    scale = float(np.max(np.abs(ref)))
    bound = atol + rtol * scale

    def compare(backend: str, y: Any) -> BackendResult:
        err = float(np.max(np.abs(np.asarray(y, dtype=np.float64) - ref))) if y.shape == ref.shape else np.inf
        return BackendResult(backend, True, err, err / scale if scale > 0 else err, bool(err <= bound))

    session = ort_session(onnx_path, threads=1)
    results = [compare("onnxruntime", session.run(None, {session.get_inputs()[0].name: x})[0])]
    if built is not None:
        backend = f"tvm:{built.target.name}"
        runnable, why = built.target.runnable_here()
        results.append(compare(backend, built.run(x)) if runnable else BackendResult(backend, False, note=why))
    return NumericsReport(shape, seed, rtol, atol, scale, tuple(results))
