"""Pareto fronts of (latency, accuracy estimate): non-dominated sorting, hypervolume (pymoo's
`indicators.hv`, i.e. moocore), the front as JSON and as a PNG plot with the latency constraint line.

Hypervolume is computed on normalized objectives so runs are comparable: latency mapped from
[floor, budget] to [0, 1], the estimate from [high, low] to [0, 1] (both minimized), reference (1, 1).
Comparisons across runs must pass the same `floor` and `est_range`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def nondominated(f: np.ndarray) -> list[int]:
    """Indices of the first non-dominated front of minimized objectives f [N, M]."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    if len(f) == 0:
        return []
    return [int(i) for i in NonDominatedSorting().do(np.asarray(f, dtype=np.float64), only_non_dominated_front=True)]


def hypervolume(latency: np.ndarray, estimate: np.ndarray, budget_ms: float, floor_ms: float | None = None,
                est_range: tuple[float, float] | None = None) -> float:
    from pymoo.indicators.hv import HV

    latency, estimate = np.asarray(latency, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
    keep = (latency <= budget_ms) & np.isfinite(estimate)
    if not keep.any():
        return 0.0
    latency, estimate = latency[keep], estimate[keep]
    floor = float(latency.min()) if floor_ms is None else floor_ms
    low, high = (float(estimate.min()), float(estimate.max())) if est_range is None else est_range
    f = np.column_stack([(latency - floor) / max(budget_ms - floor, 1e-12),
                         (high - estimate) / max(high - low, 1e-12)])
    return float(HV(ref_point=np.array([1.0, 1.0]))(f))


def write_front(path: Path, space: str, result: Any) -> Path:
    extra = result.extra
    doc = {"space": space, "budget_ms": extra["budget_ms"], "proxy": extra["proxy"],
           "hypervolume": extra["hypervolume"], "evaluations": extra["evaluations"],
           "chosen": {"arch": list(result.arch), "latency_ms": result.latency_ms,
                      "low_ms": result.low_ms, "high_ms": result.high_ms},
           "front": sorted(extra["front"], key=lambda p: p["latency_ms"])}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def plot_front(path: Path, latency: Sequence[float], estimate: Sequence[float], front: list[dict],
               budget_ms: float, chosen: tuple[float, float], ylabel: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.scatter(latency, estimate, s=8, c="0.75", label="evaluated")
    pts = sorted((p["latency_ms"], p["estimate"]) for p in front)
    if pts:
        ax.step(*zip(*pts), where="post", c="tab:blue", marker="o", ms=4, label="Pareto front (feasible)")
    ax.axvline(budget_ms, c="tab:red", ls="--", label=f"constraint {budget_ms:g} ms")
    ax.scatter([chosen[0]], [chosen[1]], marker="*", s=160, c="tab:orange", zorder=5, label="chosen")
    ax.set_xlabel("table latency (ms)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_dnas_log(path: Path, records: list[dict]) -> Path:
    """Expected and argmax latency per epoch against the target (FBNet / ProxylessNAS logs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in records]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(epochs, [r["expected_latency_ms"] for r in records], marker="o", label="E[LAT]")
    ax.plot(epochs, [r["argmax_latency_ms"] for r in records], marker="s", label="argmax arch")
    ax.axhline(records[0]["target_ms"], c="tab:red", ls="--", label="target")
    ax.set_xlabel("epoch")
    ax.set_ylabel("table latency (ms)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
