"""Constrained multi-objective evolutionary search with pymoo's NSGA-II (Deb et al. 2002), as in
Once-for-All's latency-constrained evolutionary stage (Cai et al., ICLR 2020), over the LUT.

Genome: the integer choice index per searchable layer, bounds [0, num_choices[l] - 1]. Operators:
an initial population drawn uniformly from the space and kept only if the table says it meets the
budget (Once-for-All's constrained random sampling: thousands of candidates cost a millisecond of
numba prediction), uniform crossover, a per-gene random-reset mutation within each layer's bounds,
and a repair that maps invalid genomes (e.g. ofa-mbv3's depth rule) to valid ones with the space's
own `validate`. Objectives (minimized): table latency (DenseTable.predict, whole population at once)
and the negative accuracy estimate (`proxies`). Constraint: G = latency - budget <= 0.

The accuracy estimate is the expensive part (a forward pass per arch), so it is computed only for
archs that meet the budget: NSGA-II ranks infeasible ones by constraint violation alone, never by
their objectives, and the front and the answer are feasible archs only. Unscored archs are recorded
with a NaN estimate. The returned architecture is the feasible one with the best estimate; it never
exceeds the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lutnas.errors import LutnasError
from lutnas.progress import ProgressBar
from lutnas.search.base import (
    STRATEGIES,
    EpochLog,
    SearchOptions,
    SearchResult,
    check_table_space,
    make_result,
    repair_arch,
)
from lutnas.search.latency_loss import min_latency_ms
from lutnas.search.pareto import hypervolume, nondominated
from lutnas.search.proxies import estimate_many, make_estimator


@dataclass
class Evaluations:
    """Every distinct architecture evaluated, in order: archs [N, L], latency [N], estimate [N]."""

    archs: list[tuple[int, ...]]
    latency_ms: list[float]
    estimate: list[float]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(self.archs), np.asarray(self.latency_ms), np.asarray(self.estimate)


def make_problem(table: Any, space: Any, estimator: Callable, budget_ms: float, record: Evaluations):
    from pymoo.core.problem import Problem

    class LutProblem(Problem):
        def __init__(self) -> None:
            upper = np.asarray(table.num_choices, dtype=np.int64) - 1
            super().__init__(n_var=space.num_layers, n_obj=2, n_ieq_constr=1, xl=np.zeros_like(upper),
                             xu=upper, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            archs = np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)
            latency = table.predict(archs).latency_ms
            estimate = score_feasible(estimator, archs, latency, budget_ms)
            for a, lat, est in zip(archs, latency, estimate):
                record.archs.append(tuple(int(v) for v in a))
                record.latency_ms.append(float(lat))
                record.estimate.append(float(est))
            out["F"] = np.column_stack([latency, -np.where(np.isfinite(estimate), estimate, -1e12)])
            out["G"] = (latency - budget_ms)[:, None]

    return LutProblem()


def score_feasible(estimator: Callable, archs: np.ndarray, latency_ms: np.ndarray, budget_ms: float) -> np.ndarray:
    """The accuracy estimate of every arch within the budget; NaN for the others (never scored)."""
    estimate = np.full(len(archs), np.nan)
    feasible = np.flatnonzero(latency_ms <= budget_ms)
    estimate[feasible] = estimate_many(estimator, archs[feasible])
    return estimate


def feasible_sampling(space: Any, table: Any, budget_ms: float, draws: int = 4096):
    """pymoo sampling: uniform archs of the space that the table says meet the budget.

    Draws `draws` candidates per round (the space's own distribution, so depth rules hold), keeps the
    distinct feasible ones, and tops up with the fastest candidates seen if too few are feasible.
    """
    from pymoo.core.sampling import Sampling

    class FeasibleSampling(Sampling):
        def _do(self, problem, n_samples, *args, random_state=None, **kwargs):
            rng = np.random.default_rng(random_state.integers(2**63))
            cand = np.unique(space.sample_many(rng, draws), axis=0)
            cand = cand[rng.permutation(len(cand))]
            latency = table.predict_latency(cand)
            # feasible ones first in their random order, then the rest fastest first
            order = np.argsort(np.where(latency <= budget_ms, -np.inf, latency), kind="stable")
            return cand[order[:n_samples]]

    return FeasibleSampling()


def space_repair(space: Any):
    from pymoo.core.repair import Repair

    class SpaceRepair(Repair):
        """Rounds to integers and applies the space's validity rules (see `repair_arch`)."""

        def _do(self, problem, x, **kwargs):
            x = np.clip(np.rint(np.asarray(x, dtype=np.float64)), problem.xl, problem.xu).astype(np.int64)
            return np.asarray([repair_arch(space, row) for row in x], dtype=np.int64)

    return SpaceRepair()


def reset_mutation(prob_var: float | None = None):
    from pymoo.core.mutation import Mutation

    class RandomResetMutation(Mutation):
        """Each gene is redrawn uniformly within its layer's bounds with probability prob_var."""

        def _do(self, problem, x, *args, random_state=None, **kwargs):
            x = np.asarray(x, dtype=np.int64).copy()
            p = self.get_prob_var(problem, size=len(x))
            hit = random_state.random(x.shape) < np.asarray(p).reshape(-1, 1)
            fresh = random_state.integers(problem.xl, problem.xu + 1, size=x.shape)
            x[hit] = fresh[hit]
            return x

    return RandomResetMutation(prob=1.0, prob_var=prob_var)


def lutnas_nsga2(space: Any, population: int, table: Any, budget_ms: float):
    """Our NSGA-II setup: feasible sampling, uniform crossover, reset mutation, space repair."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.operators.crossover.ux import UniformCrossover

    return NSGA2(pop_size=population, sampling=feasible_sampling(space, table, budget_ms),
                 crossover=UniformCrossover(), mutation=reset_mutation(), repair=space_repair(space),
                 eliminate_duplicates=True)


def run_nsga2(algorithm: Any, table: Any, space: Any, estimator: Callable, budget_ms: float,
              generations: int, seed: int, log: EpochLog | None = None, progress: bool = False) -> Evaluations:
    """Runs `algorithm` for `generations`; returns every evaluation (for fronts and hypervolume)."""
    record = Evaluations([], [], [])
    problem = make_problem(table, space, estimator, budget_ms, record)
    algorithm.setup(problem, termination=("n_gen", generations), seed=seed, verbose=False)
    with ProgressBar("nsga-ii", generations, enabled=progress, transient=True, elapsed=True) as bar:
        while algorithm.has_next():
            algorithm.next()
            _, lat, est = record.arrays()
            feasible = lat <= budget_ms
            best = float(est[feasible].max()) if feasible.any() else None
            if log is not None:
                log.write({"strategy": "evolution", "generation": algorithm.n_gen - 1,
                           "evaluations": len(lat), "feasible": int(feasible.sum()),
                           "best_feasible_estimate": best, "min_latency_ms": float(lat.min()),
                           "target_ms": budget_ms})
            bar.advance()
            bar.describe(f"nsga-ii  evals {len(lat)} best {best}")
    return record


def search_evolution(table: Any, space: Any, data: Any, options: SearchOptions) -> SearchResult:
    check_table_space(table, space)
    budget = options.latency_ms
    floor = min_latency_ms(table)
    if floor > budget:
        raise LutnasError(f"no architecture meets {budget:g} ms: the table's minimum achievable latency is "
                          f"{floor:.4g} ms")
    estimator = make_estimator(options.proxy, space, data, options, table.resolution)
    log = EpochLog(options.log_path)
    record = run_nsga2(lutnas_nsga2(space, options.population, table, budget), table, space, estimator, budget,
                       options.generations, options.seed, log, options.progress)
    archs, lat, est = record.arrays()
    feasible = np.flatnonzero(lat <= budget)
    if feasible.size == 0:
        arch = repair_arch(space, _cheapest(table), scores=-np.nan_to_num(table.latency_ms, nan=np.inf))
        if float(table.predict(np.asarray([arch])).latency_ms[0]) > budget:
            raise LutnasError(f"no valid architecture found under {budget:g} ms; the table's minimum "
                              f"achievable latency is {floor:.4g} ms")
    else:
        best = feasible[np.lexsort((lat[feasible], -est[feasible]))[0]]  # top estimate, then fastest
        arch = tuple(archs[best])
    front = nondominated(np.column_stack([lat[feasible], -est[feasible]])) if feasible.size else []
    points = [{"arch": list(map(int, archs[feasible[i]])), "latency_ms": float(lat[feasible[i]]),
               "estimate": float(est[feasible[i]])} for i in front]
    hv = hypervolume(lat[feasible], est[feasible], budget) if feasible.size else 0.0
    return make_result(table, space, arch, log.records, extra={
        "proxy": options.proxy, "front": points, "hypervolume": hv, "evaluations": len(lat),
        "all_latency_ms": lat.tolist(), "all_estimate": est.tolist(), "budget_ms": budget})  # NaN: not scored


def _cheapest(table: Any) -> tuple[int, ...]:
    lut = np.where(np.isfinite(table.latency_ms), table.latency_ms, np.inf)
    return tuple(int(i) for i in lut.argmin(axis=1))


STRATEGIES.register("evolution", search_evolution)
