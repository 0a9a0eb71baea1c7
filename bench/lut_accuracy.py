"""The honest latency-table accuracy experiment, end to end, on this machine.

For each runtime: profile a proxyless table at a small resolution (or reuse the db), sample N fresh
archs with a seed used nowhere else, measure them as whole networks with the profiler's harness,
and compare with the table's predictions. For onnxruntime the table is built both ways, blocks
timed alone ("isolated") and inside covering networks ("in-network", lutnas' default for ORT), and
both are scored against the SAME whole-network measurements, so the difference is the method's.
No arch used to build (or calibrate) a table is scored; overlap is checked and printed.

On a shared machine, load changes between building a table and measuring the networks move every
number (2x swings were seen here). `--rounds R` (default 3) interleaves them in time instead: R
rounds of (one more pass over every table entry, one more pass over every held-out network), then
both sides pool their passes, so they average over the same load history. Nothing about the
held-out archs reaches the table; only the clock is shared.

    .venv/bin/python bench/lut_accuracy.py --runtime onnxruntime            # ~3-5 min
    .venv/bin/python bench/lut_accuracy.py --runtime tvm --resolution 64    # ~6-9 min (compiles)

Prints one `validate:` line per table and writes report.json + scatter.png per table under --out.
Timings are only meaningful on a quiet machine: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HELD_OUT_SEED = 8675309   # used by this bench only: the validation archs are never seen by a table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", choices=["tvm", "onnxruntime", "both"], default="onnxruntime")
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--resolution", type=int, default=None, help="default: 96 (onnxruntime), 64 (tvm)")
    ap.add_argument("-n", type=int, default=30, help="held-out archs (>= 30 for the goal)")
    ap.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    ap.add_argument("--modes", default=None, help="comma list of measure modes (default: onnxruntime "
                    "'isolated,in-network', tvm 'isolated')")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved (table pass, network pass) rounds")
    ap.add_argument("--reuse-db", action="store_true", help="keep tables from an earlier run (default: fresh "
                    "tables; compiled libraries and ONNX exports are always reused)")
    ap.add_argument("--calibrate", action="store_true", help="also fit a calibration (scored on held-out)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lutnas-bench"), help="dbs, caches, reports")
    ap.add_argument("--out", type=Path, default=None, help="reports (default: WORK/reports)")
    args = ap.parse_args(argv)
    os.environ.setdefault("LUTNAS_CACHE", str(args.work / "cache"))
    runtimes = ["onnxruntime", "tvm"] if args.runtime == "both" else [args.runtime]
    print(f"load before: {os.getloadavg()}  cpus: {os.cpu_count()}", flush=True)
    for runtime in runtimes:
        run_one(args, runtime)
    print(f"load after: {os.getloadavg()}", flush=True)
    return 0


def run_one(args: argparse.Namespace, runtime: str) -> None:
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.context import covering_archs
    from lutnas.latency_tables.networks import measure_archs
    from lutnas.latency_tables.profile import ProfileSettings, profile_table
    from lutnas.latency_tables.validate import build_report, write_report
    from lutnas.spaces import get_space

    space = get_space(args.space)
    res = args.resolution or (96 if runtime == "onnxruntime" else 64)
    modes = (args.modes.split(",") if args.modes else
             ["isolated", "in-network"] if runtime == "onnxruntime" else ["isolated"])
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.n)]
    t_start = time.perf_counter()
    tables, dbs = {}, {}
    measured_rounds = []
    if not args.reuse_db:
        for old in args.work.glob(f"{space.name}-{res}-{runtime}-*.db*"):
            old.unlink()
    for rnd in range(args.rounds):
        for mode in modes:
            dbs[mode] = args.work / f"{space.name}-{res}-{runtime}-{mode}.db"
            t0 = time.perf_counter()
            r = profile_table(space, res, "x86", runtime, dbs[mode], settings=ProfileSettings(measure_mode=mode),
                              progress=sys.stderr.isatty(), work_dir=args.work / "blocks", remeasure=rnd > 0)
            print(f"[{runtime} {mode}] round {rnd + 1}: table {r.table_id}: {r.entries} entries, {r.passes} new "
                  f"pass(es), unstable {r.unstable}, {time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f}",
                  flush=True)
            tables[mode] = r.table_id
        t0 = time.perf_counter()
        measured_rounds.append(measure_archs(space, archs, res, "x86", runtime, progress=sys.stderr.isatty(),
                                             work_dir=args.work / "networks"))
        print(f"[{runtime}] round {rnd + 1}: measured {len(archs)} whole networks in {time.perf_counter() - t0:.0f} s, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
    measured = [pool(ms) for ms in zip(*measured_rounds)]
    print(f"[{runtime}] networks unstable after pooling every pass: {sum(m.unstable for m in measured)}", flush=True)
    if "in-network" in modes:
        used = set(covering_archs(space, 2, 0))
        print(f"[{runtime}] held-out archs also used to build the in-network table: "
              f"{sum(a in used for a in archs)}", flush=True)
    tables = {mode: open_table(dbs[mode], tid) for mode, tid in tables.items()}
    for mode, table in tables.items():
        prediction = table.dense().predict(np.asarray(archs, dtype=np.int64))
        info = {"id": table.id, "space": space.name, "resolution": res, "target": "x86", "runtime": runtime,
                "threads": 1, "options": table.meta.options}
        report = build_report(info, archs, prediction, measured, calibrate=args.calibrate, seed=args.seed)
        report.conditions = {"load_avg": list(os.getloadavg()), "bench": "bench/lut_accuracy.py"}
        out = (args.out or args.work / "reports") / f"{space.name}-{res}-{runtime}-{mode}"
        write_report(report, out)
        print(f"[{runtime} @ {res}px, blocks {mode}] {report.line()}", flush=True)
        print(f"    report: {out / 'report.json'}", flush=True)
    print(f"[{runtime}] total {time.perf_counter() - t_start:.0f} s", flush=True)


def pool(rounds: tuple) -> object:
    """One NetworkMeasurement holding the passes of every round (renumbered), with their verdict."""
    from dataclasses import replace

    from lutnas.latency_tables.networks import NetworkMeasurement
    from lutnas.profiler.stability import verdict

    passes = tuple(replace(p, pass_no=i + 1) for i, p in enumerate(p for m in rounds for p in m.passes))
    first = rounds[0]
    return NetworkMeasurement(first.arch, first.key, first.onnx_path, first.library_path, passes, verdict(passes))


if __name__ == "__main__":
    sys.exit(main())
