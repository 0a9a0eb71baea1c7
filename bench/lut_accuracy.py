"""The honest latency-table accuracy experiment, end to end, on this machine.

For each runtime: profile a proxyless table at a small resolution (or reuse the db), sample N fresh
archs with a seed used nowhere else, measure them as whole networks with the profiler's harness,
and compare with the table's predictions. For onnxruntime the table is built both ways, blocks
timed alone ("isolated") and inside covering networks ("in-network", lutnas' default for ORT), and
both are scored against the SAME whole-network measurements, so the difference is the method's.
No arch used to build (or calibrate) a table is scored; overlap is checked and printed.

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
    tables = {}
    for mode in modes:
        db = args.work / f"{space.name}-{res}-{runtime}-{mode}.db"
        t0 = time.perf_counter()
        r = profile_table(space, res, "x86", runtime, db, settings=ProfileSettings(measure_mode=mode),
                          progress=sys.stderr.isatty(), work_dir=args.work / "blocks")
        print(f"[{runtime} {mode}] table {r.table_id}: {r.entries} entries, {r.passes} new pass(es), "
              f"unstable {r.unstable}, {time.perf_counter() - t0:.0f} s", flush=True)
        tables[mode] = open_table(db, r.table_id)
    if "in-network" in modes:
        used = set(covering_archs(space, 2, 0))
        print(f"[{runtime}] held-out archs also used to build the in-network table: "
              f"{sum(a in used for a in archs)}", flush=True)
    t0 = time.perf_counter()
    measured = measure_archs(space, archs, res, "x86", runtime, progress=sys.stderr.isatty(),
                             work_dir=args.work / "networks")
    print(f"[{runtime}] measured {len(archs)} whole networks in {time.perf_counter() - t0:.0f} s "
          f"(unstable after all passes: {sum(m.unstable for m in measured)})", flush=True)
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


if __name__ == "__main__":
    sys.exit(main())
