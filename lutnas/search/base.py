"""What every search strategy shares: options, the result record, the strategy registry, the
per-epoch JSONL log, and the architecture-parameter tensor of the differentiable strategies
(FBNet / ProxylessNAS: logits alpha [L, C_max], invalid choices masked). Progress is shown with
`lutnas.progress.ProgressBar`, like every other long job.

A strategy is a function ``(table: DenseTable, space: SearchSpace, data: SearchData | None,
options: SearchOptions) -> SearchResult`` registered under its name in `STRATEGIES`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lutnas.errors import ArchError, LutnasError
from lutnas.registry import Registry


class DataError(LutnasError):
    """A data source is missing, unreadable or malformed, or too small to search."""


@dataclass(frozen=True)
class SearchOptions:
    """Knobs of all strategies; each strategy reads the ones it uses. latency_ms is the target/budget."""

    latency_ms: float
    epochs: int = 10
    seed: int = 0
    batch_size: int = 64
    batches_per_epoch: int | None = None  # None: the whole split each epoch
    width_mult: float = 0.25
    lr_weights: float | None = None  # None: the strategy's (paper's) initial rate, cosine-decayed
    lr_arch: float | None = None  # None: the strategy's (paper's) Adam rate
    warmup_epochs: int | None = None  # weights-only epochs first; None: the strategy's share of `epochs`
    arch_every: int | None = None  # ProxylessNAS: an arch step after every N weight steps (None: 5)
    latency_loss: str | None = None  # None: the strategy's default
    loss_alpha: float | None = None
    loss_beta: float | None = None
    loss_lambda: float | None = None
    temperature: float = 5.0  # FBNet Gumbel-softmax T0
    temperature_decay: float = 0.045  # T *= exp(-decay) per epoch
    proxy: str = "naswot"  # evolution accuracy estimate: naswot | synflow | supernet
    population: int = 32
    generations: int = 20
    device: str = "auto"  # auto (CUDA when torch sees one) | cpu | cuda | cuda:N
    amp: bool | None = None  # mixed precision; None: on for CUDA
    log_path: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        """Absurd values fail here, in one line, rather than as a traceback or an all-zero arch later."""
        problems = [f"{name} must be {rule}, got {value}" for name, value, rule, ok in (
            ("latency_ms", self.latency_ms, "a finite number > 0", math.isfinite(self.latency_ms) and self.latency_ms > 0),
            ("epochs", self.epochs, ">= 1", self.epochs >= 1),
            ("batch_size", self.batch_size, ">= 2 (train-mode BatchNorm)", self.batch_size >= 2),
            ("batches_per_epoch", self.batches_per_epoch, ">= 1",
             self.batches_per_epoch is None or self.batches_per_epoch >= 1),
            ("width_mult", self.width_mult, "> 0", self.width_mult > 0),
            ("warmup_epochs", self.warmup_epochs, ">= 0", self.warmup_epochs is None or self.warmup_epochs >= 0),
            ("arch_every", self.arch_every, ">= 1", self.arch_every is None or self.arch_every >= 1),
            ("lr_weights", self.lr_weights, "> 0", self.lr_weights is None or self.lr_weights > 0),
            ("lr_arch", self.lr_arch, "> 0", self.lr_arch is None or self.lr_arch > 0),
            ("temperature", self.temperature, "> 0", self.temperature > 0),
            ("population", self.population, ">= 2", self.population >= 2),
            ("generations", self.generations, ">= 1", self.generations >= 1),
            ("seed", self.seed, ">= 0", self.seed >= 0),
        ) if not ok]
        if problems:
            raise LutnasError(f"search options: {'; '.join(problems)}")


@dataclass
class SearchResult:
    arch: tuple[int, ...]
    latency_ms: float
    low_ms: float
    high_ms: float
    log: list[dict] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)
    weights: dict[str, Any] | None = None  # tensors of the chosen subnet, if a supernet was trained
    extra: dict[str, Any] = field(default_factory=dict)


Strategy = Callable[..., SearchResult]
STRATEGIES: Registry[Strategy] = Registry("search strategy")


def resolve_device(name: str) -> Any:
    """`auto` -> CUDA when torch sees a device, else CPU; `cuda` without one is a one-line error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise LutnasError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise LutnasError(f"device {name!r}: torch {torch.__version__} ({build}) sees no CUDA device")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise LutnasError(f"device {name!r}: {err}") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise LutnasError(f"device {name!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return device


def predict_one(table: Any, arch: Sequence[int]) -> tuple[float, float, float]:
    pred = table.predict(np.asarray([arch], dtype=np.int64))
    return float(pred.latency_ms[0]), float(pred.low_ms[0]), float(pred.high_ms[0])


def make_result(table: Any, space: Any, arch: Sequence[int], log: list[dict], **kw: Any) -> SearchResult:
    arch = tuple(int(a) for a in space.validate(tuple(int(a) for a in arch)))
    lat, low, high = predict_one(table, arch)
    return SearchResult(arch=arch, latency_ms=lat, low_ms=low, high_ms=high, log=log, **kw)


def check_table_space(table: Any, space: Any) -> None:
    """The table's layer/choice layout must be the space's (a LUT for another space is unusable)."""
    counts = [len(space.choice_names(layer)) for layer in range(space.num_layers)]
    if list(np.asarray(table.num_choices)) != counts:
        raise LutnasError(
            f"latency table for space {table.space!r} has choices per layer {list(table.num_choices)}, "
            f"space {space.name!r} has {counts}"
        )


class EpochLog:
    """Appends one JSON object per epoch to a JSONL file (if given) and keeps them in memory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.records: list[dict] = []
        self.start = time.perf_counter()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def write(self, record: dict) -> None:
        record = {"elapsed_s": round(time.perf_counter() - self.start, 3), **record}
        self.records.append(record)
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")


class ArchParams:
    """Architecture logits [L, C_max] with the table's mask; softmax, argmax, expected latency.

    Logits start as N(0, init_std^2) (ProxylessNAS's `arch_init_type=normal`, ratio 1e-3): near-uniform
    probabilities, with ties broken by the seed rather than always towards choice 0.
    """

    def __init__(self, table: Any, device: Any = None, init_std: float = 1e-3) -> None:
        import torch

        from lutnas.search.latency_loss import ExpectedLatency

        self.expected = ExpectedLatency(table, device)
        self.mask = self.expected.mask
        init = torch.randn(self.mask.shape, dtype=torch.float32) * init_std
        self.alpha = torch.nn.Parameter(init.to(self.mask.device))

    def probs(self):
        return self.expected.probs(self.alpha)

    def expected_latency(self):
        return self.expected(self.alpha)

    def argmax(self) -> tuple[int, ...]:
        import torch

        with torch.no_grad():
            masked = self.alpha.masked_fill(~self.mask, float("-inf"))
        return tuple(int(i) for i in masked.argmax(dim=1).cpu())


def repair_arch(space: Any, arch: Sequence[int], scores: np.ndarray | None = None) -> tuple[int, ...]:
    """The arch if valid, else the closest valid one found by changing as few layers as possible.

    Greedy on the space's own `validate`: each round tries every single-layer change and keeps one
    that makes the arch valid; failing that, one that changes the ArchError (progress on another rule).
    `scores` [L, C_max] ranks replacement choices (higher first), e.g. architecture probabilities.
    """
    arch = [int(a) for a in arch]
    for _ in range(space.num_layers + 1):
        try:
            return tuple(space.validate(tuple(arch)))
        except ArchError as err:
            first_error = str(err)
        fallback = None
        for layer in range(space.num_layers):
            n = len(space.choice_names(layer))
            order = range(n) if scores is None else np.argsort(-np.asarray(scores[layer][:n]), kind="stable")
            for choice in order:
                if choice == arch[layer]:
                    continue
                trial = arch.copy()
                trial[layer] = int(choice)
                try:
                    return tuple(space.validate(tuple(trial)))
                except ArchError as err:
                    if fallback is None and str(err) != first_error:
                        fallback = trial
        if fallback is None:
            break
        arch = fallback
    raise ArchError(f"could not repair architecture {tuple(arch)} into a valid {space.name} architecture")


def options_dict(options: SearchOptions) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
