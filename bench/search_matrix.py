"""The search goal matrix: every strategy x seeds 0-9 x batch sizes {2, 7, 16, 64}, through the CLI, on
data whose train and held-out splits each leave a remainder of one image at that batch size; every
arch must be accepted by `lutnas predict` and by what `lutnas export` parses and loads (the archs
file against its space, the searched weights into the subnet); one arch is exported for real.

    .venv/bin/python bench/search_matrix.py [--db TABLE.db] [--seeds 10] [--batches 2,7,16,64] [--out DIR]

Without --db a proxyless @ 32 px table is MEASURED first (onnxruntime, one thread, ~30 s). The data is
scikit-learn's digits, cut with --max-samples / --val-fraction to 5B+1 train and B+1 held-out images
for batch size B: the last weight batch and the only held-out batch each carry one image over.
DNAS runs one epoch; evolution a population of 8 for 2 generations (naswot proxy). Prints one line
per run and the pass count.

NUMBA_THREADING_LAYER defaults to workqueue here (set in `main`, so tests/test_search_matrix.py, which
imports this script's functions, keeps the process's own): once numba's OpenMP layer starts (the first parallel
prediction), torch's steps ran 20-40x slower in this process on this busy 2-core machine, until
torch's thread count was set again.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

STRATEGIES = ("fbnet", "proxyless", "evolution")


@dataclass(frozen=True)
class Cell:
    strategy: str
    seed: int
    batch: int
    ok: bool
    seconds: float
    note: str


def remainder_of_one(batch: int) -> tuple[int, float]:
    """(--max-samples, --val-fraction) giving 5B+1 train and B+1 held-out images (checked)."""
    from lutnas.search.data import split_counts

    total = 6 * batch + 2
    fraction = (batch + 1) / total
    assert split_counts(1797, fraction, total) == (5 * batch + 1, batch + 1)
    return total, fraction


def lutnas(*args: str) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    from lutnas.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as stop:
            code = int(stop.code or 0)
    import torch

    torch.set_num_threads(torch.get_num_threads())   # re-assert after numba's OpenMP start-up (see docstring)
    return code, out.getvalue(), err.getvalue()


def measured_table(work: Path) -> Path:
    from lutnas.latency_tables.profile import ProfileSettings, profile_table
    from lutnas.profiler.stability import StabilityPolicy

    db = work / "proxyless32.db"
    profile_table("proxyless", 32, "x86", "onnxruntime", db, threads=1, policy=StabilityPolicy(max_passes=1),
                  progress=False, work_dir=work / "blocks", settings=ProfileSettings(repeats=3, min_repeat_ms=1.0))
    return db


def mid_budget(db: Path, work: Path) -> float:
    """Halfway between the all-first-choice and all-sixth-choice proxyless archs: feasible, not trivial."""
    probe = work / "probe.json"
    probe.write_text(json.dumps({"space": "proxyless", "archs": [[0] * 21, [5] * 21]}))
    code, out, err = lutnas("predict", "--db", str(db), "--archs", str(probe), "--json")
    assert code == 0, err
    rows = json.loads(out)
    return 0.5 * (rows[0]["latency_ms"] + rows[1]["latency_ms"])


def accepted(db: Path, out: Path, strategy: str, budget: float) -> str:
    """'' if predict and export's parsing / weight loading accept the run's arch, else why not."""
    import torch

    from lutnas.deploy import subnet_module
    from lutnas.spaces import get_space, load_archs

    code, text, err = lutnas("predict", "--db", str(db), "--archs", str(out / "arch.json"), "--json")
    if code != 0:
        return f"predict: {err.strip()}"
    (row,) = json.loads(text)
    if not row["low_ms"] <= row["latency_ms"] <= row["high_ms"]:
        return f"predict: interval {row}"
    if strategy == "evolution" and row["latency_ms"] > budget:
        return f"evolution over budget: {row['latency_ms']:.4f} > {budget:.4f}"
    name, archs = load_archs(out / "arch.json")
    if strategy != "evolution":
        module, _ = subnet_module(get_space(name), archs[0], 32, out / "weights.safetensors")
        with torch.no_grad():
            if not torch.isfinite(module(torch.zeros(1, 3, 32, 32))).all():
                return "export: subnet output not finite"
    return ""


def run_cell(db: Path, budget: float, strategy: str, seed: int, batch: int, out: Path) -> Cell:
    total, fraction = remainder_of_one(batch)
    start = time.perf_counter()
    code, _, err = lutnas("search", "--db", str(db), "--strategy", strategy, "--latency-ms", f"{budget:.6f}",
                          "--seed", str(seed), "--batch-size", str(batch), "--epochs", "1", "--max-samples",
                          str(total), "--val-fraction", repr(fraction), "--population", "8", "--generations", "2",
                          "--device", "cpu", "--out", str(out))
    note = f"search exit {code}: {err.strip().splitlines()[-1] if err.strip() else ''}" if code else ""
    if not note:
        try:
            note = accepted(db, out, strategy, budget)
        except Exception as exc:  # noqa: BLE001  (a bench: report any failure as a failed cell)
            note = f"{type(exc).__name__}: {exc}"
    return Cell(strategy, seed, batch, not note, time.perf_counter() - start, note)


def export_one(db: Path, out: Path, work: Path) -> str:
    code, text, err = lutnas("export", "--arch", str(out / "arch.json"), "--weights", str(out / "weights.safetensors"),
                             "-r", "32", "--target", "x86", "--db", str(db), "--allow-mismatch",
                             "--out", str(work / "exported"))
    return f"export exit {code}: {(text + err).strip().splitlines()[-1] if (text + err).strip() else ''}"


def main() -> None:
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")   # before numba is imported (see docstring)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=None, help="a proxyless table (default: measure one at 32 px)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--batches", default="2,7,16,64")
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary dir)")
    args = ap.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="search_matrix_"))
    work.mkdir(parents=True, exist_ok=True)
    db = args.db or measured_table(work)
    budget = mid_budget(db, work)
    print(f"table {db}, budget {budget:.4f} ms, runs under {work}", flush=True)
    cells = []
    for batch in (int(b) for b in args.batches.split(",")):
        for strategy in STRATEGIES:
            for seed in range(args.seeds):
                cell = run_cell(db, budget, strategy, seed, batch, work / f"{strategy}-b{batch}-s{seed}")
                cells.append(cell)
                print(f"{'PASS' if cell.ok else 'FAIL'} {strategy:9s} batch {batch:2d} seed {seed} "
                      f"{cell.seconds:6.1f} s {cell.note}", flush=True)
    done = next((c for c in cells if c.ok and c.strategy == "fbnet"), None)
    if done is not None:
        print(export_one(db, work / f"fbnet-b{done.batch}-s{done.seed}", work), flush=True)
    passed = sum(c.ok for c in cells)
    print(f"passed {passed}/{len(cells)} (strategies {len(STRATEGIES)} x seeds {args.seeds} x batch sizes "
          f"{args.batches}); {sum(c.seconds for c in cells):.0f} s of runs")


if __name__ == "__main__":
    main()
