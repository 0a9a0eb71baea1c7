"""Search quality: hypervolume of lutnas's NSGA-II setup vs pymoo's default NSGA-II vs random search,
at equal evaluation counts, same table, same accuracy proxy; and the wall time of a constrained
search over the proxyless space until it converges (goal <= 5 s).

    .venv/bin/python bench/search_quality.py [--db PATH [--table ID]] [--space proxyless] [--proxy naswot]

Without --db the latency table is SYNTHETIC (lutnas.latency_tables.synthetic): per-candidate cost
proportional to the block's MACs (from its spec and input shape) plus noise, skip = 0 -- plausible
relative costs, not measurements.
The output says which one was used.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lutnas.latency_tables.synthetic import synthetic_table
from lutnas.search.base import SearchOptions
from lutnas.search.data import load_data
from lutnas.search.evolution import Evaluations, lutnas_nsga2, make_problem, score_feasible, space_repair
from lutnas.search.latency_loss import max_latency_ms, min_latency_ms
from lutnas.search.pareto import hypervolume
from lutnas.search.proxies import make_estimator


def load_table(args):
    from lutnas.spaces import get_space

    if args.db:
        from lutnas.latency_tables import open_table

        table = open_table(args.db, args.table)
        return get_space(table.meta.space), table.dense(), f"measured table {table.meta.id} from {args.db}"
    space = get_space(args.space)
    return space, synthetic_table(space, args.resolution), "SYNTHETIC table (MAC-proportional costs, not measured)"


def run_algorithm(algorithm, table, space, estimator, budget, max_evals, seed) -> Evaluations:
    record = Evaluations([], [], [])
    algorithm.setup(make_problem(table, space, estimator, budget, record), termination=("n_gen", 10_000),
                    seed=seed, verbose=False)
    while len(record.archs) < max_evals and algorithm.has_next():
        algorithm.next()
    return Evaluations(record.archs[:max_evals], record.latency_ms[:max_evals], record.estimate[:max_evals])


def random_search(table, space, estimator, budget, n, seed) -> Evaluations:
    rng = np.random.default_rng(seed)
    archs = np.asarray([space.sample(rng) for _ in range(n)], dtype=np.int64)
    lat = table.predict(archs).latency_ms
    return Evaluations([tuple(a) for a in archs], lat.tolist(), score_feasible(estimator, archs, lat, budget).tolist())


def converge_time(table, space, estimator, budget, population, seed, patience=5, max_gen=100):
    """Seconds (and generations, evaluations) until the best feasible estimate stalls for `patience` gens."""
    record = Evaluations([], [], [])
    algorithm = lutnas_nsga2(space, population, table, budget)
    start = time.perf_counter()
    algorithm.setup(make_problem(table, space, estimator, budget, record), termination=("n_gen", max_gen),
                    seed=seed, verbose=False)
    best, stall, gen = -np.inf, 0, 0
    while algorithm.has_next() and stall < patience:
        algorithm.next()
        gen += 1
        _, lat, est = record.arrays()
        cur = est[lat <= budget].max() if (lat <= budget).any() else -np.inf
        stall = stall + 1 if cur <= best + 1e-9 else 0
        best = max(best, cur)
    return time.perf_counter() - start, gen, len(record.archs)


def report_convergence(proxy, table, space, data, options, budget, population, seeds) -> None:
    """One constrained search per seed, each with a fresh estimator (a cold proxy cache)."""
    runs = [converge_time(table, space, make_estimator(proxy, space, data, options, table.resolution), budget,
                          population, seed=seed) for seed in range(seeds)]
    worst = max(secs for secs, _, _ in runs)
    each = ", ".join(f"{secs:.2f} s ({gens} gens, {evals} evals)" for secs, gens, evals in runs)
    print(f"constrained search on {space.name} ({proxy}) converged (best feasible estimate stalled 5 generations), "
          f"seeds 0-{seeds - 1}: {each}; slowest {worst:.2f} s ({'meets' if worst <= 5 else 'misses'} the 5 s goal)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db")
    ap.add_argument("--table")
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--resolution", type=int, default=224, help="synthetic table resolution")
    ap.add_argument("--proxy", default="naswot")
    ap.add_argument("--population", type=int, default=24)
    ap.add_argument("--generations", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget-fraction", type=float, default=0.5, help="budget between min and max latency")
    args = ap.parse_args()

    space, table, origin = load_table(args)
    floor, ceil = min_latency_ms(table), max_latency_ms(table)
    budget = floor + args.budget_fraction * (ceil - floor)
    options = SearchOptions(latency_ms=budget, batch_size=32, width_mult=0.25, progress=False, epochs=2,
                            batches_per_epoch=20)
    data = load_data("digits", 32)
    estimator = make_estimator(args.proxy, space, data, options, table.resolution)  # one cache shared by all methods
    print(f"table: {origin}; space {space.name}; latency range [{floor:.2f}, {ceil:.2f}] ms; "
          f"budget {budget:.2f} ms; proxy {args.proxy} (train resolution 32, width 0.25)")

    from pymoo.algorithms.moo.nsga2 import NSGA2

    runs: dict[str, list[Evaluations]] = {"lutnas NSGA-II": [], "pymoo default NSGA-II": [], "random": []}
    for seed in range(args.seeds):
        ours = run_algorithm(lutnas_nsga2(space, args.population, table, budget), table, space, estimator, budget,
                             args.population * args.generations, seed)
        n = len(ours.archs)
        # default operators (float SBX + PM, rounded); the space repair only keeps archs valid
        default = NSGA2(pop_size=args.population, repair=space_repair(space), eliminate_duplicates=True)
        runs["lutnas NSGA-II"].append(ours)
        runs["pymoo default NSGA-II"].append(run_algorithm(default, table, space, estimator, budget, n, seed))
        runs["random"].append(random_search(table, space, estimator, budget, n, seed))
    all_est = np.concatenate([r.estimate for rs in runs.values() for r in rs])
    est_range = (float(all_est[np.isfinite(all_est)].min()), float(all_est[np.isfinite(all_est)].max()))
    print(f"{'method':24s} {'evals':>6s} {'HV mean':>8s} {'HV std':>7s} {'feasible':>9s}")
    for name, rs in runs.items():
        hvs = [hypervolume(r.latency_ms, r.estimate, budget, floor, est_range) for r in rs]
        feas = np.mean([np.mean(np.asarray(r.latency_ms) <= budget) for r in rs])
        print(f"{name:24s} {len(rs[0].archs):6d} {np.mean(hvs):8.4f} {np.std(hvs):7.4f} {feas:9.2f}")

    proxy_cost = len(getattr(estimator, "cache", {}))
    report_convergence(args.proxy, table, space, data, options, budget, args.population, args.seeds)
    if args.proxy != "synflow":
        report_convergence("synflow", table, space, data, options, budget, args.population, args.seeds)
    print(f"(distinct archs scored by the shared proxy cache: {proxy_cost})")


if __name__ == "__main__":
    main()
