"""Numerical agreement of the lowered model with PyTorch (the check every deployment flow needs).

One seeded random input goes through the PyTorch module (reference), onnxruntime and, where this
machine can execute it, the TVM build. Each backend passes when
`max|y - y_ref| <= atol + rtol * max|y_ref|`: a tolerance relative to the output's scale, because
conv nets' logits span orders of magnitude and float32 reassociation errors scale with them.
A second input measures how much the reference output depends on its input at all: deep nets at
PyTorch's default initialization can collapse to a near-constant output, and then agreement proves
little, so the report flags the check as weak instead of passing it silently.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.errors import NumericsError

if TYPE_CHECKING:
    from torch import nn
    
    from lutnas.lowering.tvm_build import BuiltModule

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
    input_spread: float = float("inf")  # max |y_ref(x) - y_ref(x')| over a second input x'

    @property
    def weak(self) -> bool:
        """True when the reference barely depends on its input, so agreement proves little."""
        return self.input_spread <= self.atol + self.rtol * self.ref_scale

    @property
    def ok(self) -> bool:
        return all(r.ok is not False for r in self.results)

    @property
    def summary(self) -> str:
        head = "numerics ok" if self.ok else "numerics FAILED"
        tol = f"tol {self.atol:g} + {self.rtol:g}*{self.ref_scale:.3g}"
        text = f"{head} vs torch ({tol}): " + "; ".join(r.describe() for r in self.results)
        if self.weak:
            spread = f"{self.input_spread:.1e}"
            text += f"; warning: weak check, torch output hardly depends on the input (spread {spread})"
        return text

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise NumericsError(self.summary)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "weak": self.weak,
            "input_spread": self.input_spread,
            "summary": self.summary,
            "seed": self.seed,
            "rtol": self.rtol,
            "atol": self.atol,
            "ref_scale": self.ref_scale,
            "results": [r.__dict__ for r in self.results],
        }


def check_numerics(
    module: nn.Module,
    onnx_path: str | Path,
    built: BuiltModule | None = None,
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
    rng = np.random.default_rng(seed)
    x, x2 = (rng.standard_normal(shape, dtype=np.float32) for _ in range(2))
    reference = copy.deepcopy(module).eval()
    with torch.no_grad():
        ref, ref2 = (reference(torch.from_numpy(v.copy())).numpy() for v in (x, x2))
    spread = float(np.max(np.abs(ref.astype(np.float64) - ref2)))
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
    return NumericsReport(shape, seed, rtol, atol, scale, tuple(results), spread)
