"""What the architecture search costs on top of training the supernet, FBNet and ProxylessNAS, measured
side by side in one run. Goals: architecture steps + latency term add <= 30% to an epoch of plain
supernet training at the same settings; the latency term alone < 1% of an epoch.

    .venv/bin/python bench/search_cost.py [--epochs 3] [--reps 2] [--threads 1] [--batch-size 64]

Three runs per strategy and repetition, interleaved: `plain` (every epoch a warm-up epoch: weight steps
only, the supernet training the search needs anyway), `search` (the same weight steps plus the
strategy's architecture steps with its default latency loss), `no-term` (the same with latency loss
`none`). Epoch time = median over epochs after the first and over repetitions. The latency term's
share is also timed directly: E[LAT] over the table + the loss form, forward and backward, in
isolation, times the architecture steps per epoch, over the search epoch.

Data: digits at 32 px, 1280 images = 1024 train / 256 held-out (16 and 4 batches of 64), width 0.25,
proxyless space. The table is SYNTHETIC (lutnas.latency_tables.synthetic; cost does not depend on its
values). One torch thread by default: this shared 2-core VM stalls OpenMP barriers under load.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")   # see bench/search_matrix.py

import torch

from lutnas.latency_tables.synthetic import synthetic_table
from lutnas.search.base import SearchOptions
from lutnas.search.data import load_data
from lutnas.search.dnas import EpochPlan
from lutnas.search.fbnet import FBNET
from lutnas.search.latency_loss import ExpectedLatency, make_objective, min_latency_ms
from lutnas.search.proxyless import PROXYLESS
from lutnas.search.runner import run_search
from lutnas.spaces import get_space

RECIPES = {"fbnet": FBNET, "proxyless": PROXYLESS}


def epoch_seconds(strategy, table, space, data, options, threads: int) -> list[float]:
    """Per-epoch wall times of one run, the first epoch (first-call set-up) left out."""
    torch.set_num_threads(threads)
    result = run_search(strategy, table, space, data, options)
    stamps = [r["elapsed_s"] for r in result.log]
    return [b - a for a, b in itertools.pairwise(stamps)]


def term_seconds(table, mode: str, ref_ms: float, gumbel: bool, reps: int = 2000) -> float:
    """One evaluation of the latency term (E[LAT] + loss form), forward + backward, in isolation."""
    term = ExpectedLatency(table)
    objective = make_objective(mode, table, ref_ms)
    alpha = torch.zeros(table.latency_ms.shape, requires_grad=True)
    ce = torch.tensor(2.0, requires_grad=True)

    def once() -> None:
        masked = alpha.masked_fill(~term.mask, float("-inf"))
        weights = torch.nn.functional.gumbel_softmax(masked, tau=1.0) if gumbel else torch.softmax(masked, -1)
        objective(ce, term.from_probs(weights)).backward()

    for _ in range(50):
        once()
    start = time.perf_counter()
    for _ in range(reps):
        once()
    return (time.perf_counter() - start) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    space = get_space("proxyless")
    table = synthetic_table(space, 224)
    data = load_data("digits", 32, val_fraction=0.2, max_samples=20 * args.batch_size)
    ref = min_latency_ms(table) * 1.5
    print(f"space {space.name}, SYNTHETIC table, digits @32px ({len(data.train_y)} train / {len(data.val_y)} "
          f"held-out), width 0.25, batch {args.batch_size}, {args.epochs} epochs x {args.reps} reps, "
          f"torch threads {args.threads}")
    print(f"{'strategy':10s} {'loss':>8s} {'steps w+a':>9s} {'plain s':>8s} {'search s':>8s} {'no-term s':>9s} "
          f"{'arch+term':>9s} {'term (diff)':>11s} {'term (timed)':>12s}")
    for strategy, recipe in RECIPES.items():
        base = {"latency_ms": ref, "epochs": args.epochs, "batch_size": args.batch_size, "progress": False,
                "device": "cpu"}
        runs = {"plain": SearchOptions(warmup_epochs=args.epochs, **base),
                "search": SearchOptions(warmup_epochs=0, **base),
                "no-term": SearchOptions(warmup_epochs=0, latency_loss="none", **base)}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for rep in range(args.reps):
            for name in (list(runs) if rep % 2 == 0 else list(runs)[::-1]):   # interleaved, order alternating
                times[name] += epoch_seconds(strategy, table, space, data, runs[name], args.threads)
        med = {name: statistics.median(t) for name, t in times.items()}
        plan = EpochPlan.of(data, runs["search"], recipe)
        term = term_seconds(table, recipe.latency_loss, ref, gumbel=strategy == "fbnet")
        overhead = med["search"] / med["plain"] - 1
        print(f"{strategy:10s} {recipe.latency_loss:>8s} {plan.weight_steps:>5d}+{plan.arch_steps:<3d} "
              f"{med['plain']:8.3f} {med['search']:8.3f} {med['no-term']:9.3f} {overhead:9.1%} "
              f"{(med['search'] - med['no-term']) / med['plain']:11.2%} {term * plan.arch_steps / med['search']:12.4%}"
              f"  ({'meets' if overhead <= 0.30 else 'misses'} <= 30%; term {term * 1e6:.0f} us a step)")


if __name__ == "__main__":
    main()
