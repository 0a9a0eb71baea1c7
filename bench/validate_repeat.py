"""Profile, then validate twice back to back: is the accuracy figure repeatable, and is it reached (issue 17)?

For each SPACE:RESOLUTION pair: profile a table (onnxruntime in-network by default; an existing
table in the db is finished, not rebuilt, unless --fresh), then `validate` it twice back to back on
the same held-out archs (seed 8675309, which no table is built from), each in --rounds rounds with
the table's anchors timed at every round boundary. Prints per validation the raw and round-corrected
shares within +-10% / +-5% and the band the run supported, then issue 17's goals:
- the two validations' shares differ by <= 5 points;
- round-corrected: >= 99% within +-10% and >= 90% within +-5% (30 archs).

    .venv/bin/python bench/validate_repeat.py --pairs proxyless:128,proxyless:160,fbnet:128,fbnet:160,ofa-mbv3:128,ofa-mbv3:160

Only meaningful on a quiet machine; reports go to WORK/<space>-<res>/v1, v2 (report.json, scatter.png).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HELD_OUT_SEED = 8675309


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default="proxyless:160", help="comma list of SPACE:RESOLUTION")
    ap.add_argument("--runtime", choices=["tvm", "onnxruntime"], default="onnxruntime")
    ap.add_argument("--measure-mode", choices=["isolated", "in-network"], default=None,
                    help="default: in-network for onnxruntime, isolated for tvm")
    ap.add_argument("-n", type=int, default=30, help="held-out archs")
    ap.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="held-out archs' seed (one never used to build)")
    ap.add_argument("--rounds", type=int, default=15, help="cycles of one sample of every network (interleaved)")
    ap.add_argument("--anchors", type=int, default=None, help="default: validate's per table kind")
    ap.add_argument("--fresh", action="store_true", help="delete an existing table db first")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lutnas-validate-repeat"))
    args = ap.parse_args(argv)
    os.environ.setdefault("LUTNAS_CACHE", str(args.work / "cache"))
    for pair in args.pairs.split(","):
        space, res = pair.split(":")
        run_pair(args, space, int(res))
    return 0


def run_pair(args: argparse.Namespace, space_name: str, resolution: int) -> None:
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.context import default_method
    from lutnas.latency_tables.profile import profile_table
    from lutnas.latency_tables.settings import ProfileSettings
    from lutnas.latency_tables.validate import validate
    from lutnas.spaces import get_space

    space = get_space(space_name)
    out = args.work / f"{space.name}-{resolution}-{args.runtime}"
    db = out / "table.db"
    if args.fresh:
        for old in out.glob("table.db*"):
            old.unlink()
    mode = args.measure_mode or default_method(args.runtime)
    t0 = time.perf_counter()
    r = profile_table(space, resolution, "x86", args.runtime, db, settings=ProfileSettings(measure_mode=mode),
                      progress=sys.stderr.isatty())
    print(f"[{pair_name(space.name, resolution)}] profiled ({mode}): {r.entries} entries, unstable {r.unstable}, "
          f"{time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.2f}", flush=True)
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.n)]
    reports = []
    for k in (1, 2):
        table = open_table(db, r.table_id)
        t0 = time.perf_counter()
        rep = validate(table, archs, out / f"v{k}", rounds=args.rounds, anchors=args.anchors,
                       progress=sys.stderr.isatty(), work_dir=out / "networks")
        table.close()
        reports.append(rep)
        print(f"[{pair_name(space.name, resolution)}] validation {k} ({time.perf_counter() - t0:.0f} s, load "
              f"{os.getloadavg()[0]:.2f}):\n    " + rep.line().replace("\n", "\n    "), flush=True)
    print(goals(pair_name(space.name, resolution), *reports), flush=True)


def pair_name(space: str, resolution: int) -> str:
    return f"{space} @ {resolution}px"


def goals(name: str, first: object, second: object) -> str:
    """The two validations' share differences (points) and the corrected shares against the goal."""
    lines = [f"[{name}] goals:"]
    for label, pick in (("raw", lambda rep: rep.accuracy), ("round-corrected", lambda rep: rep.corrected_accuracy)):
        a, b = pick(first), pick(second)
        if a is None or b is None:
            continue
        d10, d5 = abs(a.within_10 - b.within_10) * 100, abs(a.within_5 - b.within_5) * 100
        lines.append(f"    {label}: within ±10% {a.within_10:.0%} / {b.within_10:.0%} (differ {d10:.0f} points), "
                     f"within ±5% {a.within_5:.0%} / {b.within_5:.0%} (differ {d5:.0f} points): "
                     f"{'repeatable' if max(d10, d5) <= 5 else 'NOT repeatable'} (goal <= 5 points)")
    acc = [rep.corrected_accuracy or rep.accuracy for rep in (first, second)]
    met = all(a.within_10 >= 0.99 and a.within_5 >= 0.90 for a in acc)
    bands = ", ".join(f"±{rep.band:.1%}" for rep in (first, second))
    lines.append(f"    accuracy goal (>= 99% within ±10%, >= 90% within ±5%): {'met' if met else 'NOT met'} "
                 f"in both; bands the runs supported: {bands}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
