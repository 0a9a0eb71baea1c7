"""Search cost per epoch of FBNet and ProxylessNAS with and without the latency term, and the cost of
the term itself (E[LAT] over the LUT + the loss form, forward and backward) as a share of an epoch.
Goal: the latency term costs < 1% of an epoch.

    .venv/bin/python bench/search_cost.py [--space proxyless] [--epochs 2] [--batches 10]

Epoch times with/without the term are separate runs and carry this VM's 25-35% run-to-run noise; the
term's share is therefore also measured directly (timed in isolation, times the arch steps per epoch).
The table is SYNTHETIC (MAC-proportional costs; lutnas.latency_tables.synthetic) -- cost does not
depend on values.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lutnas.latency_tables.synthetic import synthetic_table
from lutnas.search.base import SearchOptions
from lutnas.search.data import load_data
from lutnas.search.latency_loss import ExpectedLatency, make_objective, min_latency_ms
from lutnas.search.runner import run_search
from lutnas.spaces import get_space

DEFAULT_LOSS = {"fbnet": "fbnet", "proxyless": "mul#log"}


def epoch_seconds(strategy, table, space, data, options) -> float:
    result = run_search(strategy, table, space, data, options)
    stamps = [0.0] + [r["elapsed_s"] for r in result.log]
    return float(np.median(np.diff(stamps)[1:] if len(stamps) > 2 else np.diff(stamps)))


def term_seconds(table, mode: str, ref_ms: float, reps: int = 2000) -> float:
    """One evaluation of the latency term, forward + backward, in isolation."""
    term = ExpectedLatency(table)
    objective = make_objective(mode, table, ref_ms)
    alpha = torch.zeros(table.latency_ms.shape, requires_grad=True)
    ce = torch.tensor(2.0, requires_grad=True)
    for _ in range(50):
        objective(ce, term(alpha)).backward()
    start = time.perf_counter()
    for _ in range(reps):
        objective(ce, term(alpha)).backward()
    return (time.perf_counter() - start) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    space = get_space(args.space)
    table = synthetic_table(space, 224)
    data = load_data("digits", 32)
    ref = min_latency_ms(table) * 1.5
    print(f"space {space.name}, SYNTHETIC table, digits @32px, width 0.25, batch {args.batch_size}, "
          f"{args.batches} weight + {args.batches} arch steps per epoch, torch threads {torch.get_num_threads()}")
    print(f"{'strategy':10s} {'loss':>10s} {'epoch s':>8s} {'no-term s':>9s} {'ratio':>6s} "
          f"{'term us':>8s} {'term share':>10s}")
    for strategy in ("fbnet", "proxyless"):
        base = {"latency_ms": ref, "epochs": args.epochs, "batches_per_epoch": args.batches,
                "batch_size": args.batch_size, "progress": False}
        mode = DEFAULT_LOSS[strategy]
        with_term = epoch_seconds(strategy, table, space, data, SearchOptions(latency_loss=mode, **base))
        without = epoch_seconds(strategy, table, space, data, SearchOptions(latency_loss="none", **base))
        term = term_seconds(table, mode, ref)
        share = term * args.batches / with_term
        print(f"{strategy:10s} {mode:>10s} {with_term:8.3f} {without:9.3f} {with_term / without:6.3f} "
              f"{term * 1e6:8.1f} {share:10.4%}  ({'meets' if share < 0.01 else 'misses'} < 1%)")


if __name__ == "__main__":
    main()
