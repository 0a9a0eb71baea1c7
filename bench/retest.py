"""Test-retest of whole-network latency on this machine, and which estimator repeats best (issue 17).

Collect: `--runs K` runs of `lutnas measure` (in process: `network_run.measure_networks`) over the
same N archs, `--gap-min` minutes apart; each run times every network in `--rounds R` cycles of one
sample each, interleaved (`profiler.rounds.measure_interleaved`), with the space's reference network
timed at every cycle boundary. Every pass's raw samples, the
reference's raw samples at every boundary and the load average are written to WORK/run-<k>.json.

Analyse (also `--analyze FILE...` on kept runs): for every estimator (median, min, trimmed_mean,
mad_mean, median_of_round_minima) and both readings of a network -- raw ms, and the ratio to the
reference timed around each of its passes -- every arch's value in every run, then over every pair
of runs the test-retest difference (larger / smaller - 1), summarised over archs as median and 95th
percentile. Issue 17's goal: median <= 2% and p95 <= 5%. The estimator that repeats best (smallest
p95 of the reading validate and measure use, the ratio, then the smallest median) is printed as the
one to make `stats.DEFAULT_ESTIMATOR`.

    .venv/bin/python bench/retest.py --runtime onnxruntime --space fbnet -r 160 -n 20 --runs 2 --gap-min 10
    .venv/bin/python bench/retest.py --runtime tvm --space proxyless -r 64 -n 20 --runs 2 --gap-min 10
    .venv/bin/python bench/retest.py --analyze /tmp/lutnas-retest/run-*.json

Only meaningful on a quiet machine (nothing else running; the load average is recorded per run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ARCH_SEED = 8675309   # the archs: a seed no table is built from


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", choices=["tvm", "onnxruntime"], default="onnxruntime")
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("-r", "--resolution", type=int, default=160)
    ap.add_argument("-n", type=int, default=20, help="archs")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--gap-min", type=float, default=10.0, help="minutes between the starts of two runs")
    ap.add_argument("--rounds", type=int, default=15, help="cycles of one sample of every network (interleaved)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lutnas-retest"))
    ap.add_argument("--analyze", type=Path, nargs="+", default=None, help="analyse kept run files only")
    args = ap.parse_args(argv)
    paths = args.analyze or collect(args)
    analyse([json.loads(p.read_text()) for p in paths])
    return 0


def collect(args: argparse.Namespace) -> list[Path]:
    from lutnas.latency_tables.network_run import measure_networks
    from lutnas.spaces import get_space

    os.environ.setdefault("LUTNAS_CACHE", str(args.work / "cache"))
    args.work.mkdir(parents=True, exist_ok=True)
    space = get_space(args.space)
    rng = np.random.default_rng(ARCH_SEED)
    archs = [space.sample(rng) for _ in range(args.n)]
    paths, started = [], time.time()
    for k in range(args.runs):
        if k:
            wait = args.gap_min * 60 - (time.time() - started)
            print(f"waiting {max(wait, 0) / 60:.1f} min before run {k + 1}", flush=True)
            time.sleep(max(wait, 0.0))
        started, load = time.time(), os.getloadavg()
        run = measure_networks(space, archs, args.resolution, "x86", args.runtime, threads=args.threads,
                               rounds=args.rounds, progress=sys.stderr.isatty(), work_dir=args.work / "networks")
        record = {"space": space.name, "resolution": args.resolution, "runtime": args.runtime,
                  "threads": args.threads, "started_at": started, "load_before": load, "load_after": os.getloadavg(),
                  "reference": list(run.reference), "track": run.track.to_dict(),
                  "networks": [{"arch": list(m.arch), "key": m.key, "passes": [p.to_dict() for p in m.passes]}
                               for m in run.networks]}
        paths.append(args.work / f"run-{k + 1}.json")
        paths[-1].write_text(json.dumps(record) + "\n")
        print(f"run {k + 1}: {len(archs)} networks x {args.rounds}+ rounds in {time.time() - started:.0f} s, "
              f"load {load[0]:.2f} -> {record['load_after'][0]:.2f}; {paths[-1]}", flush=True)
    return paths


def readings(record: dict, estimator: str) -> tuple[np.ndarray, np.ndarray]:
    """(raw ms, ratio to the reference) per network of one run, with `estimator` on both sides."""
    from lutnas.latency_tables.drift import AnchorTime, BoundaryTiming, SpeedTrack
    from lutnas.latency_tables.networks import NetworkMeasurement
    from lutnas.latency_tables.repeatability import ground_truth
    from lutnas.latency_tables.stats import estimates
    from lutnas.profiler.measurement import Measurement
    from lutnas.profiler.stability import verdict

    nets = []
    for n in record["networks"]:
        passes = tuple(Measurement.from_dict(p) for p in n["passes"])
        nets.append(NetworkMeasurement(tuple(n["arch"]), n["key"], Path("."), None, passes, verdict(passes), estimator))
    track = record["track"]
    timings = tuple(BoundaryTiming(b["boundary"], {k: AnchorTime(float(estimates([[v]], estimator)[0]),
                                                                 b["at_by_anchor"][k], tuple(v))
                                                   for k, v in b["samples_ms"].items()})
                    for b in track["boundaries"])
    truth = ground_truth(nets, SpeedTrack(track["then"], timings, track["method"]))
    return truth.raw_ms, truth.corrected_ms


def spread(values: np.ndarray) -> tuple[float, float]:
    """values[run, arch] -> median and p95 over archs and run pairs of (larger / smaller - 1)."""
    from lutnas.latency_tables.repeatability import retest

    r = retest(values.T.tolist())
    return r.median, r.p95


def analyse(records: list[dict]) -> None:
    from lutnas.latency_tables.stats import ESTIMATORS

    first = records[0]
    gaps = ", ".join(f"{g:.1f}" for g in np.diff([r["started_at"] for r in records]) / 60)
    loads = ", ".join(f"{r['load_before'][0]:.2f}" for r in records)
    print(f"{first['space']} @ {first['resolution']} px, {first['runtime']}, {len(first['networks'])} archs, "
          f"{len(records)} runs (gaps {gaps} min), load averages at the starts {loads}")
    print(f"{'estimator':<24}{'raw median':>11}{'raw p95':>9}{'ratio median':>14}{'ratio p95':>11}  goal (<=2%, <=5%)")
    scores = {}
    for est in ESTIMATORS:
        raw, ratio = (np.array(v) for v in zip(*(readings(r, est) for r in records)))
        (rm, rp), (qm, qp) = spread(raw), spread(ratio)
        scores[est] = (qp, qm)
        goal = "ratio meets it" if qm <= 0.02 and qp <= 0.05 else ("raw meets it" if rm <= 0.02 and rp <= 0.05
                                                                   else "not met")
        print(f"{est:<24}{rm:>11.2%}{rp:>9.2%}{qm:>14.2%}{qp:>11.2%}  {goal}")
    best = min(scores, key=lambda e: scores[e])
    print(f"repeats best (ratio p95, then median): {best} -> make it stats.DEFAULT_ESTIMATOR if it is not")


if __name__ == "__main__":
    sys.exit(main())
