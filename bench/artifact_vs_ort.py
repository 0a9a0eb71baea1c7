"""TVM artifact latency divided by onnxruntime's, same network, same thread count, one run.

For a few networks of each space (sampled with `--seed`, printed), at one resolution, the configurations

    tvm-default            TVM 0.27's default pipeline, untuned
    lutnas-cpu-nchw        lutnas's CPU schedule rules on ONNX's NCHW layout, untuned
    lutnas-cpu             the network converted to channels-last (NHWC) and lutnas's rules, untuned
    tuned@<N>              lutnas-cpu + MetaSchedule records after N trials per network (cumulative,
                           one database shared by every network and budget, rules as the incumbent)

are compiled, then timed side by side with the profiler's harness (`LocalRunner`, calibrated
`time_evaluator` for TVM, perf_counter loop for onnxruntime), interleaved sample by sample:
`--rounds` cycles of one sample (>= 30 ms of calls) of onnxruntime and of every configuration, the
order rotated each cycle (`profiler.rounds.measure_interleaved`), and each configuration's ratio is
the median of its per-cycle ratios to onnxruntime: this VM's speed drifts by tens of percent over
minutes, which a ratio of two measurements taken minutes apart would carry. Before 2026-12-06's
afternoon a round was a pass of 3 samples of each in turn (5 rounds), so a burst could land on one
runtime's pass and not the other's. Tuning minutes are wall-clock on this machine. Ends with

    tvm_over_ort=<ratio of the best configuration, geometric mean over the networks>

and, per configuration, a 90% interval of the geomean over this run's cycles (each network's cycles
drawn again with replacement): how far the figure could move with the same machine phase; a run in
another phase of the VM moves it further.

    .venv/bin/python bench/artifact_vs_ort.py [--quick] [--threads 1] [--resolution 128]
        [--per-space 2] [--seed 0] [--budgets 64,192,448] [--mcpu host|none|NAME] [--db DIR] [--rounds 15]
        [--pipelines tvm-default,lutnas-cpu-nchw,lutnas-cpu]

`--quick`: one network per space, budgets 24,64,128. `--budgets ""`: no tuning. The thread count is fixed per process
(TVM_NUM_THREADS is read once): run once per thread count.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--per-space", type=int, default=None)
    ap.add_argument("--spaces", default="proxyless,fbnet,ofa-mbv3")
    ap.add_argument("--budgets", default=None, help="cumulative trials per network, comma-separated")
    ap.add_argument("--mcpu", default="host", help="host (LLVM's name for this CPU), none, or a CPU name")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--db", default=None, help="tuning database dir (default: a fresh temporary one)")
    ap.add_argument("--rounds", type=int, default=15,
                    help="interleaved cycles per network: one sample of every configuration and onnxruntime each")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    ap.add_argument("--pipelines", default="tvm-default,lutnas-cpu-nchw,lutnas-cpu",
                    help="untuned pipelines to compare (comma-separated)")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    os.environ["TVM_NUM_THREADS"] = str(args.threads)  # before TVM's pool exists
    import numpy as np

    from lutnas.lowering import build, export_onnx, get_target
    from lutnas.lowering.tuning import tune
    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.rounds import measure_interleaved
    from lutnas.profiler.runners import LocalRunner, LocalRuntimes
    from lutnas.spaces import get_space

    per_space = args.per_space or (1 if args.quick else 2)
    pipelines = [p for p in args.pipelines.split(",") if p]
    budgets = [int(b) for b in (args.budgets if args.budgets is not None else ("24,64,128" if args.quick else "64,192,448")).split(",") if b]
    target = _target(get_target, args.mcpu, args.threads)
    work = Path(tempfile.mkdtemp(prefix="lutnas-bench-"))
    atexit.register(shutil.rmtree, work, True)   # ~0.3 GB of libraries a run; `--db` keeps the tuning records
    db = Path(args.db) if args.db else work / "tuning-db"
    print(f"target {target.canonical_json()}  threads {args.threads}  resolution {args.resolution}  "
          f"archs: {per_space} per space, seed {args.seed}  budgets {budgets}  db {db}", flush=True)
    print(f"load average at start: {os.getloadavg()}", flush=True)

    nets = []
    for space_name in args.spaces.split(","):
        space = get_space(space_name)
        rng = np.random.default_rng(args.seed)
        res = space.check_resolution(args.resolution)
        for i in range(per_space):
            arch = space.sample(rng)
            shape = (1, 3, res, res)
            path = export_onnx(space.build(arch, res), shape, work / f"{space_name}-{i}.onnx")
            nets.append({"name": f"{space_name}#{i}", "arch": list(arch), "onnx": path, "shape": shape})

    # 1. compile (and tune) everything first; 2. then time, so no compile runs while timing
    tuning_min: dict[str, float] = {}
    libs: dict[tuple[str, str], Path] = {}
    for net in nets:
        for pipe in pipelines:
            libs[net["name"], pipe] = _compile(build, net, target, pipe, None, work)
    spent = 0.0
    for budget in budgets:
        for net in nets:
            t0 = time.time()
            rep = tune(net["onnx"], net["shape"], target, db, trials=budget, threads=args.threads,
                       trials_per_task=max(8, budget // 4), progress=False)
            spent_net = time.time() - t0
            tuning_min[f"{net['name']}@{budget}"] = spent_net / 60
            spent += spent_net
            print(f"tuned {net['name']} to {budget} trials: {rep.summary}", flush=True)
        for net in nets:
            libs[net["name"], f"tuned@{budget}"] = _compile(build, net, target, rep.pipeline, db, work)
    print(f"tuning total {spent / 60:.1f} min", flush=True)

    runner = LocalRuntimes([LocalRunner(target, runtime, args.threads) for runtime in ("tvm", "onnxruntime")])
    rows = []
    configs = pipelines + [f"tuned@{b}" for b in budgets]
    for net in nets:
        job = {"input_shape": net["shape"], "target": target.name, "threads": args.threads, "repeats": 3,
               "min_repeat_ms": 30.0}
        jobs = {"ort": MeasureJob(key=f"{net['name']}-ort", runtime="onnxruntime", onnx_path=net["onnx"], **job)}
        jobs.update({cfg: MeasureJob(key=f"{net['name']}-{cfg}", runtime="tvm", library_path=libs[net["name"], cfg],
                                     **job) for cfg in configs})
        passes = measure_interleaved(runner, list(jobs.values()), args.rounds)
        times = {name: list(p.samples_ms) for name, p in zip(jobs, passes)}   # per cycle, in cycle order
        ort = np.array(times["ort"])
        row = {"net": net["name"], "arch": net["arch"], "ort_ms": float(np.median(ort)), "ort_rounds_ms": times["ort"]}
        for cfg in configs:
            row[cfg] = float(np.median(np.array(times[cfg]) / ort))  # median of the per-cycle ratios
            row[f"{cfg}_ms"] = float(np.median(times[cfg]))
            row[f"{cfg}_rounds_ms"] = times[cfg]
        rows.append(row)
        spread = float(ort.max() / ort.min())
        print(f"{net['name']:12s} ort {row['ort_ms']:7.3f} ms (x{spread:.2f} max/min over cycles)  "
              + "  ".join(f"{c} x{row[c]:.2f}" for c in configs), flush=True)

    print(f"load average at end: {os.getloadavg()}")
    print("\nconfig        geomean TVM/ORT   90% interval over cycles   tuning min (cumulative, all nets)")
    cum = 0.0
    best_cfg, best = None, math.inf
    intervals = {}
    for cfg in configs:
        g = _geomean([r[cfg] for r in rows])
        intervals[cfg] = _cycle_interval(rows, cfg, np.random.default_rng(args.seed))
        if cfg.startswith("tuned@"):
            b = int(cfg.split("@")[1])
            cum = sum(v for k, v in tuning_min.items() if int(k.split("@")[1]) <= b)
        lo, hi = intervals[cfg]
        print(f"{cfg:12s}  {g:8.3f}          {lo:.3f}-{hi:.3f}                {cum:6.1f}")
        if g < best:
            best_cfg, best = cfg, g
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "tuning_min": tuning_min, "target": target.full_json(),
                                              "threads": args.threads, "budgets": budgets, "seed": args.seed,
                                              "resolution": args.resolution, "intervals_90": intervals}, indent=1))
    print(f"best: {best_cfg}")
    print(f"tvm_over_ort={best:.3f}")


def _target(get_target, mcpu: str, threads: int):
    """The x86 target the CLI builds for `threads` (`num-cores`: the rules order some loops by it)."""
    if mcpu == "host":   # as the CLI builds for this machine: its CPU, less what this (virtual) CPU hides
        from lutnas.lowering.targets import host_cpu_options

        return get_target("x86", num_cores=threads, **host_cpu_options())
    return get_target("x86", num_cores=threads, **({} if mcpu == "none" else {"mcpu": mcpu}))


def _compile(build, net: dict, target, pipeline: str, db, work: Path) -> Path:
    t0 = time.time()
    built = build(net["onnx"], net["shape"], target, pipeline=pipeline, tuning_db=db)
    safe = pipeline.replace(":", "_").replace("+", "_")
    path = built.export_library(work / f"{net['name'].replace('#', '_')}.{safe}.so")
    print(f"compiled {net['name']} {pipeline} in {time.time() - t0:.1f}s", flush=True)
    return path


def _cycle_interval(rows: list[dict], cfg: str, rng, draws: int = 2000) -> tuple[float, float]:
    """5th and 95th percentiles of the geomean when each network's cycles are drawn again with
    replacement (its ratio: the median of the drawn cycles' TVM/onnxruntime ratios). It covers the
    noise between the cycles of this run, not a slower or faster phase of the machine in another."""
    import numpy as np

    per_net = [np.array(r[f"{cfg}_rounds_ms"]) / np.array(r["ort_rounds_ms"]) for r in rows]
    logs = np.zeros(draws)
    for ratios in per_net:
        picks = rng.integers(0, len(ratios), size=(draws, len(ratios)))
        logs += np.log(np.median(ratios[picks], axis=1))
    geomeans = np.exp(logs / len(per_net))
    return float(np.percentile(geomeans, 5)), float(np.percentile(geomeans, 95))


def _geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


if __name__ == "__main__":
    sys.exit(main())
