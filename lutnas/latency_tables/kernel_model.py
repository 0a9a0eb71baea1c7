"""What a kernel table does not measure directly: kernels it never timed, and the VM's own cost.

`KernelRegressor` learns, per kernel kind (`lowering.kernels.KINDS`: conv, matmul, pool, ...), the
time of a kernel from what its signature's description says: FLOPs, bytes moved, output and input
sizes, reduction length. nn-Meter fits one random forest per kernel type on thousands of sampled
kernels; a table filled from a few models holds tens per kind and must predict models of other
families, whose shapes lie outside the ones it saw, so two regressors are offered:
- "linear" (default): per kind, time = c0 + c1 FLOPs + c2 bytes + c3 output elements + c4 weight
  bytes + c5 transcendental evaluations + c6 other arithmetic (`lowering.kernel_work`: a conv's
  multiply-adds and its epilogue's polynomial cost differently) with non-negative coefficients,
  fitted to relative error (scikit-learn's positive least squares, weighted by 1/t^2). Work terms
  extrapolate to larger and smaller kernels.
- Two facts of the hardware enter the terms, because a table's kernels cannot teach them: the
  vector unit computes whole vectors, so FLOPs and output elements count the output's innermost
  axis rounded up to whole vectors of the target (an 8-channel conv on AVX-512's 16 lanes costs a
  16-channel one's arithmetic; `lane_padding`), and an erf / exp / sigmoid evaluation (GELU, SiLU,
  softmax) costs tens of FLOPs that TVM's FLOP estimate does not count (`transcendentals`, counted
  in the kernel's TIR). Measured (bench/kernel_table_accuracy.py, docs/measurements/): without
  them, 3-channel stems and 8-channel projections were learned 2x too fast and GELU matmuls 2x too
  fast while plain matmuls of the same kind were learned 1.5x too slow.
- "forest": per kind, a random forest on the logarithms of the same features, predicting the log
  time (nn-Meter's choice); it does not extrapolate beyond the shapes it saw.
- Depthwise convolutions learn apart from the other convs (`learning_kind`): the rules schedule
  them differently (vectorized over channels, a few taps per output and no reuse across input
  channels), so a multiply-add costs them a different time. One "conv" model for both priced
  EfficientNet's depthwise 5x5 + SiLU kernels 40% too slow (run 15 of the kernel-table bench:
  unseen-family RMSPE 11.1%, 7.2% with the split, re-scored offline on the same table).
A kind with fewer than `MIN_PER_KIND` measured kernels falls back to one model fitted on every
kernel of the table. A kind learned apart from its own (the depthwise ones) needs `MIN_APART`, twice
the linear model's terms, before it leaves the conv model: seven terms fitted on four kernels
reproduce them exactly and say nothing outside them. Measured (run 26 of the kernel-table bench,
after two-group 1x1s became dense and ShuffleNet's depthwise + 1x1 fused): four fused
depthwise-pointwise kernels in the training families gave that kind a model of its own, which priced
MobileNet's fused kernels 5-7x too slow (unseen-family RMSPE 81%; 6.1% with the conv model). A
left-out check on the kind's own kernels instead picked the conv model for the 17 depthwise kernels
too, which then priced EfficientNet's and ConvNeXt's depthwise kernels 12-18% off (run 25: 6.5% ->
10.8%): the table's own kernels do not tell which model extrapolates.
bench/kernel_table_accuracy.py measures both on model families never profiled.

`FixedCost` is the VM's cost per model run outside its kernels (argument checks, allocation and
kill instructions, the call of each kernel), measured, not guessed: probe models of n tiny
kernel calls are timed whole and their kernels alone; overhead = whole - kernels, fitted as
invoke_ms + per_call_ms x (VM call instructions of the model). Profiled models measured whole can
join the fit (`KernelTable(fixed_source="models")`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lutnas.errors import LutnasError
from lutnas.lowering.kernel_work import TRANSCENDENTAL_INTRINSICS
from lutnas.lowering.kernels import KernelInfo

REGRESSORS = ("linear", "forest")
DEFAULT_REGRESSOR = "linear"
MIN_PER_KIND = 4
N_TERMS = 7                # the linear model's columns (`work_terms`)
MIN_APART = 2 * N_TERMS    # kernels a kind learned apart from its kind needs (`learning_kind`)
MIN_CONTEXT_MODELS = 6     # profiled models for the context's two terms (`fit_context`)
GLOBAL = "*"


def lane_padding(info: KernelInfo, vector_bits: int) -> float:
    """Elements the vector unit computes per output element: the output's innermost axis (the
    channels of a channels-last conv, the features of a matmul) rounded up to whole vectors of
    `vector_bits` (0: no vector unit to count, e.g. a GPU table)."""
    out = info.params[-1] if info.params else None
    if vector_bits <= 0 or out is None or not out.shape or out.shape[-1] <= 0:
        return 1.0
    lanes = max(vector_bits // out.bits, 1)
    return math.ceil(out.shape[-1] / lanes) * lanes / out.shape[-1]


def transcendentals(info: KernelInfo) -> float:
    """Transcendental evaluations of one call: counted in the kernel's TIR when it was listed
    (`lowering.kernel_work`); for kernels stored before that (format 1), one per output element for
    each transcendental operator its name fuses."""
    if info.transcendentals is not None:
        return float(info.transcendentals)
    out = info.params[-1].elements if info.params else 0
    return float(out * sum(op in TRANSCENDENTAL_INTRINSICS for op in info.pattern.split("_")))


def main_and_elementwise_ops(info: KernelInfo) -> tuple[float, float]:
    """(the reduction's arithmetic, the rest) of one call; a format-1 kernel: (TVM's FLOPs, 0)."""
    if info.reduction_ops is None or info.elementwise_ops is None:
        return info.flops, 0.0
    return float(info.reduction_ops), float(info.elementwise_ops)


def is_depthwise(info: KernelInfo) -> bool:
    """A convolution with one input channel per group and as many groups as input channels: weights
    HWIO [kh, kw, 1, C] on a channels-last input [..., C], or OIHW [C, 1, kh, kw] on NCHW [n, C, ...]."""
    if info.kind != "conv" or len(info.params) < 3:
        return False
    x, w = info.params[0].shape, info.params[1].shape
    if len(w) != 4 or len(x) != 4:
        return False
    hwio = w[2] == 1 and w[3] == x[-1] > 1
    oihw = w[1] == 1 and w[0] == x[1] > 1
    return hwio or oihw


def learning_kind(info: KernelInfo) -> str:
    """The kind a kernel is learned as: its kind, with depthwise convolutions apart (module doc), and
    a depthwise fused with the 1x1 reading it (`lowering.dw_pw_fusion`) apart from both: its FLOPs
    are mostly the 1x1's, its bytes the depthwise's input. Too few of them: learned as a conv."""
    if not is_depthwise(info):
        return info.kind
    return "depthwise-pointwise" if info.pattern.split("_").count("conv2d") >= 2 else "depthwise"


def work_terms(info: KernelInfo, vector_bits: int = 0) -> np.ndarray:
    """[1, reduction FLOPs, bytes, output elements, weight bytes, transcendental evaluations, other
    arithmetic] of one call (the linear model's columns); FLOPs, arithmetic and elements as the
    vector unit computes them (`lane_padding`)."""
    out = info.params[-1] if info.params else None
    pad = lane_padding(info, vector_bits)
    elements = float(out.elements if out else 0) * pad
    weights = sum(p.nbytes for p in info.params[1:-1])
    main, elementwise = main_and_elementwise_ops(info)
    return np.array([1.0, main * pad, float(info.nbytes), elements, float(weights), transcendentals(info),
                     elementwise * pad])


def log_features(info: KernelInfo, vector_bits: int = 0) -> np.ndarray:
    """Logarithms of the work terms plus input bytes, reduction length and arity (the forest's)."""
    terms = work_terms(info, vector_bits)
    out_elems = max(terms[3], 1.0)
    first = float(info.params[0].nbytes) if info.params else 0.0
    reduction = terms[1] / out_elems
    return np.log1p(np.array([terms[1], terms[2], terms[3], terms[4], terms[5], terms[6], first, reduction,
                              len(info.params)]))


@dataclass
class KindModel:
    kind: str
    regressor: str
    samples: int
    vector_bits: int = 0                  # the target's vector width the terms count in
    coef: np.ndarray | None = None        # linear
    forest: object | None = None          # forest (sklearn estimator)

    def predict(self, infos: Sequence[KernelInfo]) -> np.ndarray:
        if self.coef is not None:
            return np.stack([work_terms(i, self.vector_bits) for i in infos]) @ self.coef
        return np.exp(self.forest.predict(np.stack([log_features(i, self.vector_bits) for i in infos])))


class KernelRegressor:
    """Per-kind models learned from a table's measured kernels (ms per call)."""

    def __init__(self, models: dict[str, KindModel], regressor: str) -> None:
        self.models, self.regressor = models, regressor

    @classmethod
    def fit(cls, infos: Sequence[KernelInfo], times_ms: Sequence[float],
            regressor: str = DEFAULT_REGRESSOR, vector_bits: int = 0) -> KernelRegressor:
        """Per-kind models of ms per call; `vector_bits` is the table's target vector width
        (`lane_padding`; 0 counts elements as they are)."""
        if regressor not in REGRESSORS:
            raise LutnasError(f"unknown kernel regressor {regressor!r}; valid: {', '.join(REGRESSORS)}")
        if not infos:
            raise LutnasError("the kernel table has no measured kernels to learn from")
        times = np.asarray(times_ms, dtype=np.float64)
        models = {GLOBAL: _fit_kind(GLOBAL, list(infos), times, regressor, vector_bits)}
        kinds = [learning_kind(i) for i in infos]
        for kind in sorted(set(kinds)):
            idx = [n for n, k in enumerate(kinds) if k == kind]
            if len(idx) >= (MIN_PER_KIND if kind == infos[idx[0]].kind else MIN_APART):
                models[kind] = _fit_kind(kind, [infos[n] for n in idx], times[idx], regressor, vector_bits)
        return cls(models, regressor)

    def model_for(self, info: KernelInfo) -> KindModel:
        """Its learning kind's model, else its kind's (a depthwise conv in a table of too few), else the global one."""
        return self.models.get(learning_kind(info), self.models.get(info.kind, self.models[GLOBAL]))

    def predict(self, infos: Sequence[KernelInfo]) -> np.ndarray:
        """ms per call of each kernel (never below a nanosecond)."""
        out = np.empty(len(infos))
        for n, info in enumerate(infos):
            out[n] = self.model_for(info).predict([info])[0]
        return np.maximum(out, 1e-6)


def _fit_kind(kind: str, infos: list[KernelInfo], times: np.ndarray, regressor: str,
              vector_bits: int) -> KindModel:
    if regressor == "linear":
        from sklearn.linear_model import LinearRegression

        x = np.stack([work_terms(i, vector_bits) for i in infos])
        scale = np.maximum(np.abs(x).max(axis=0), 1e-12)
        fit = LinearRegression(fit_intercept=False, positive=True).fit(x / scale, times,
                                                                       sample_weight=1.0 / np.square(times))
        return KindModel(kind, regressor, len(infos), vector_bits, coef=fit.coef_ / scale)
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=1, random_state=0)
    forest.fit(np.stack([log_features(i, vector_bits) for i in infos]), np.log(times))
    return KindModel(kind, regressor, len(infos), vector_bits, forest=forest)


@dataclass(frozen=True)
class FixedCost:
    """The VM's per-run cost outside its kernels: invoke_ms + per_call_ms x VM call instructions."""

    invoke_ms: float
    per_call_ms: float
    points: int                 # models (probes, and profiled models if asked) it was fitted on

    def cost_ms(self, vm_calls: int) -> float:
        return self.invoke_ms + self.per_call_ms * vm_calls

    def to_dict(self) -> dict[str, float]:
        return {"invoke_ms": self.invoke_ms, "per_call_ms": self.per_call_ms, "points": self.points}


def fit_fixed_cost(vm_calls: Sequence[int], overhead_ms: Sequence[float],
                   whole_ms: Sequence[float] | None = None) -> FixedCost:
    """Least-squares line through (VM calls, whole - kernels) of the probes (and models), both terms
    >= 0. With `whole_ms`, residuals count relative to each point's whole run: the fixed cost matters
    for small models, and a large model's whole-minus-kernels is mostly its timing noise."""
    x = np.asarray(vm_calls, dtype=np.float64)
    y = np.asarray(overhead_ms, dtype=np.float64)
    w = None if whole_ms is None else 1.0 / np.maximum(np.asarray(whole_ms, dtype=np.float64), 1e-9)
    if x.size == 0:
        raise LutnasError("no measured VM-overhead probe in the kernel table (re-run `lutnas profile --onnx`)")
    if x.size == 1 or np.ptp(x) == 0:
        return FixedCost(0.0, max(float(np.mean(y / np.maximum(x, 1))), 0.0), int(x.size))
    slope, intercept = np.polyfit(x, y, 1, w=w)
    if intercept < 0:   # a line through the origin then
        ww = np.ones_like(x) if w is None else np.square(w)
        slope, intercept = float(np.dot(ww * x, y) / np.dot(ww * x, x)), 0.0
    return FixedCost(float(intercept), max(float(slope), 0.0), int(x.size))


@dataclass(frozen=True)
class KernelContext:
    """What a model run whole costs beyond its kernels timed one by one and the probes' fixed cost:
    kernel time x `factor` + `per_call_ms` x VM calls (`fit_context`)."""

    factor: float = 1.0
    per_call_ms: float = 0.0
    points: int = 0              # profiled models it was fitted on (0: none, the identity)

    def cost_ms(self, kernels_ms: float, vm_calls: int) -> float:
        """The context's share of a run: the kernels' time scaled, minus the kernels, plus the calls."""
        return (self.factor - 1.0) * kernels_ms + self.per_call_ms * vm_calls

    def to_dict(self) -> dict[str, float]:
        return {"factor": self.factor, "per_call_ms": self.per_call_ms, "points": self.points}


def fit_context(kernels_ms: Sequence[float], rest_ms: Sequence[float], vm_calls: Sequence[int]) -> KernelContext:
    """Fit rest = factor x kernels + per_call x VM calls over profiled models (rest: whole - fixed
    cost), residuals relative to each model's rest. Why two terms: in-model timing runs the rest of
    the model from Python between timed calls, which leaves the caches close to, not exactly in, the
    VM's state (a factor on kernel time), and the probes call one tiny kernel over and over while a
    model calls a different function each time (instruction cache, branch history: a cost per
    call). Measured on two bench tables of 32 models (docs/measurements/kernel-anchors-2026-12-04.md):
    factor 0.993 / 0.995 and 0.016 / 0.018 us per call, every model within ±5.2% / ±4.8% of its
    measured latency, where the factor alone left the 10-20 us models at -7%. With fewer than
    `MIN_CONTEXT_MODELS` models (two terms through three points follow their noise), or a fit that
    wants a negative term, the factor alone: the log-median of rest / kernels."""
    k, r = np.asarray(kernels_ms, dtype=np.float64), np.asarray(rest_ms, dtype=np.float64)
    v = np.asarray(vm_calls, dtype=np.float64)
    ok = (k > 0) & (r > 0)
    k, r, v = k[ok], r[ok], v[ok]
    if k.size == 0:
        return KernelContext()
    ratio = float(np.exp(np.median(np.log(r / k))))
    if k.size < MIN_CONTEXT_MODELS or np.ptp(v / k) == 0:
        return KernelContext(ratio, 0.0, int(k.size))
    w = 1.0 / r
    (factor, per_call), *_ = np.linalg.lstsq(np.stack([k * w, v * w], axis=1), r * w, rcond=None)
    if factor <= 0 or per_call < 0:
        return KernelContext(ratio, 0.0, int(k.size))
    return KernelContext(float(factor), float(per_call), int(k.size))

