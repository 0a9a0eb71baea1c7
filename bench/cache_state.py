"""Why blocks timed alone mispredict whole networks with fast TVM kernels: the cache state, measured.

For a few archs of a table's space, one run on this machine:
- the whole network, timed by the profiler's harness (what `validate` compares against);
- the sum of its blocks timed the way tables time them: back-to-back calls, so each block finds its
  weights and activations in L1/L2 ("hot");
- the sum of its blocks timed one call at a time, with `EVICT` megabytes written before each call
  (TVM's `time_evaluator` `f_preproc` hook, outside the timed region) so the block meets caches that
  other work has filled, as it does inside a network.

Each line prints the network and every block sum with its ratio to the network. Run on a quiet
machine, with a table profiled with the pipeline in question (its target, pipeline and block cache
are reused):

    LUTNAS_CACHE=<cache used by profile> .venv/bin/python bench/cache_state.py --db cpu64.db [-n 3]

Measured here (lutnas-cpu --mcpu znver1, proxyless @64, 3 archs, two runs): hot sums 0.75-0.90 of
the network, 1 MB evicted 0.79-0.97, 4 MB 0.85-1.06, 48 MB (everything) 1.14-1.36. The network's
real cache state lies between "hot" and "everything evicted"; no single eviction size is right.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

EVICT_MB = (1, 4, 48)
_buffers: dict[int, np.ndarray] = {}
_current = [EVICT_MB[0]]


def evict(*_args: object) -> None:
    """Write one value per 64-byte line of the current buffer: evicts that much from the caches."""
    _buffers[_current[0]][::8] += 1.0


def block_times(job, runner, repeats: int = 40) -> list[float]:
    """Median ms of one block: hot (20 calls per sample), then one call after each eviction size."""
    import tvm
    from tvm.runtime.vm import VirtualMachine

    from lutnas.profiler.harness import random_input

    lib, dev = runner._tvm_module(job)
    vm = VirtualMachine(lib, dev)
    x = tvm.runtime.tensor(random_input(job), dev)
    for _ in range(5):
        vm["main"](x)
    times = [float(np.median(vm.time_evaluator("main", dev, number=20, repeat=15)(x).results))]
    for mb in EVICT_MB:
        _current[0] = mb
        res = vm.time_evaluator("main", dev, number=1, repeat=repeats, f_preproc="lutnas.bench.evict")(x)
        times.append(float(np.median(res.results)))
    return [t * 1e3 for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a TVM table (its target and pipeline are used)")
    ap.add_argument("-n", type=int, default=3, help="archs")
    ap.add_argument("--seed", type=int, default=8675309)
    args = ap.parse_args()

    import tvm

    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.jobs import block_jobs, work_dir_for
    from lutnas.latency_tables.networks import measure_archs
    from lutnas.latency_tables.settings import ProfileSettings
    from lutnas.lowering.targets import target_from_json
    from lutnas.profiler.runners import LocalRunner
    from lutnas.spaces import get_space

    meta = open_table(args.db).meta
    space, target = get_space(meta.space), target_from_json(meta.target_name, meta.target_json)
    _buffers.update({mb: np.zeros((mb << 20) // 8) for mb in EVICT_MB})
    tvm.register_global_func("lutnas.bench.evict", evict)
    runner = LocalRunner(target, "tvm", meta.threads)
    rng = np.random.default_rng(args.seed)
    print(f"{meta.space} @{meta.resolution}, {meta.target_name}, pipeline {meta.pipeline}; ratios = block sum / network")
    for arch in (space.sample(rng) for _ in range(args.n)):
        blocks = space.blocks(arch, meta.resolution)
        jobs = block_jobs({b.key: b for b in blocks}, runtime="tvm", target=target, threads=meta.threads,
                          settings=ProfileSettings(), work_dir=work_dir_for(Path(args.db)), pipeline=meta.pipeline)
        per_key = {k: block_times(j, runner) for k, j in jobs.items()}
        sums = np.sum([per_key[b.key] for b in blocks], axis=0)
        net = measure_archs(space, [arch], meta.resolution, target, "tvm", threads=meta.threads,
                            pipeline=meta.pipeline, progress=False)[0].latency_ms
        cells = [f"hot {sums[0]:.3f} ({sums[0] / net:.2f})"]
        cells += [f"evict {mb} MB {s:.3f} ({s / net:.2f})" for mb, s in zip(EVICT_MB, sums[1:])]
        print(f"network {net:.3f} ms | " + " | ".join(cells))


if __name__ == "__main__":
    main()
