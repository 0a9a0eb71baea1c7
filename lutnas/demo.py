"""`make demo`: the main job end to end on this machine's CPU, as the CLI commands a user would type.

Each step is printed as the exact `lutnas ...` command and then run in a subprocess, so the demo is
also a tour of the CLI (it never imports `lutnas.cli`). Everything lands in `demo-out/` (or
`LUTNAS_DEMO_OUT`). Re-running an interrupted demo resumes: the latency table skips entries already
measured and the compile cache skips libraries already built. Re-running a demo that finished starts
a fresh table: the machine's speed moves over hours (tables are only as good as the device is
steady), so an old table would make the accuracy line describe the drift, not the table.

Steps: sample architectures -> lower one for x86 and arm64 (numerics checked) -> profile the proxyless
space into a latency table -> validate the table on archs it never saw -> search under a latency
budget -> export the chosen network with its manifest (predicted and measured latency) -> time the
exported network under lutnas's TVM build and under onnxruntime side by side, next to the prediction.
Every command builds as the commands do by default (x86: `lutnas-cpu` for this host's CPU; arm64: `lutnas-cpu`
with NEON's widths).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

SPACE = "proxyless"
RESOLUTION = int(os.environ.get("LUTNAS_DEMO_RESOLUTION", "64"))
VALIDATE_ARCHS = int(os.environ.get("LUTNAS_DEMO_ARCHS", "6"))
THREADS = 1            # the export's (and the table's) thread count; the comparison uses it too
VERSUS_CYCLES = 15     # TVM / onnxruntime interleaved: cycles of one sample of each


def run(*args: str) -> subprocess.CompletedProcess:
    """Run `lutnas ARGS`, echoing the command; stop the demo on failure with the command's exit code."""
    print(f"\n$ lutnas {shlex.join(args)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lutnas", *args], check=False)
    if proc.returncode != 0:
        print(f"demo: `lutnas {args[0]}` failed (exit {proc.returncode})", file=sys.stderr)
        sys.exit(proc.returncode)
    print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
    return proc


def main() -> None:
    out = Path(os.environ.get("LUTNAS_DEMO_OUT", "demo-out"))
    out.mkdir(parents=True, exist_ok=True)
    db = out / "cpu.db"
    finished = out / "demo-finished"
    if finished.exists():   # a new demo, not a resumed one: measure a fresh table
        for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), finished):
            stale.unlink(missing_ok=True)
    res = str(RESOLUTION)
    t0 = time.perf_counter()

    run("doctor")
    run("spaces")
    run("sample", "--space", SPACE, "-n", "2", "--seed", "0", "-o", str(out / "sampled.json"))
    run("lower", "--arch", str(out / "sampled.json"), "-r", res, "--target", "x86", "--out", str(out / "lower-x86"))
    run("lower", "--arch", str(out / "sampled.json"), "-r", res, "--target", "arm64",
        "--out", str(out / "lower-arm64"))

    run("profile", "--space", SPACE, "--resolution", res, "--target", "x86", "--runtime", "tvm", "--db", str(db))
    run("validate", "--db", str(db), "-n", str(VALIDATE_ARCHS), "--seed", "1234", "--out", str(out / "validate"))

    budget = _budget_ms(db)
    search_dir = out / "search"
    run("search", "--db", str(db), "--strategy", "evolution", "--latency-ms", f"{budget:.3f}",
        "--population", "16", "--generations", "8", "--out", str(search_dir))
    run("export", "--arch", str(search_dir / "arch.json"), "-r", res, "--target", "x86", "--db", str(db),
        "--out", str(out / "export"))
    manifest = json.loads((out / "export" / "manifest.json").read_text())
    print(f"\ndemo: chosen arch {manifest.get('arch')}")
    print(f"demo: predicted {_fmt(manifest.get('predicted'))}, measured {_fmt(manifest.get('measured'))}, "
          f"at the table's profiling speed {_fmt(manifest.get('measured_at_table_speed'))}")
    _versus_onnxruntime(out / "export", manifest)
    print(f"demo: done in {time.perf_counter() - t0:.0f} s; outputs in {out}/")
    finished.write_text(f"{time.time()}\n")


def _versus_onnxruntime(art_dir: Path, manifest: dict) -> None:
    """The last word: is the exported network worth deploying? Its library against onnxruntime on
    the same ONNX file, same threads, interleaved sample by sample (`profiler.deploy.artifact_vs_onnxruntime`)."""
    from lutnas.profiler.deploy import artifact_vs_onnxruntime

    print(f"\ndemo: timing {art_dir}/ under lutnas's TVM build and under onnxruntime "
          f"({VERSUS_CYCLES} interleaved cycles, {THREADS} thread(s)) ...", flush=True)
    vs = artifact_vs_onnxruntime(art_dir, threads=THREADS, rounds=VERSUS_CYCLES)
    mcpu = manifest["target"]["target"].get("mcpu")
    build = f"{manifest['pipeline']}{f', -mcpu={mcpu}' if mcpu else ''}"
    predicted = manifest.get("predicted") or {}
    rows = [(f"lutnas TVM ({build})", vs.tvm_median_ms), ("onnxruntime", vs.ort_median_ms),
            ("predicted by the table", predicted.get("latency_ms"))]
    width = max(len(label) for label, _ in rows)
    for label, ms in rows:
        print(f"demo: {label:<{width}}  " + (f"{ms:8.3f} ms" if ms is not None else "     n/a"))
    print(f"demo: TVM / onnxruntime = {vs.ratio:.2f} (median of the per-cycle ratios)")


def _budget_ms(db: Path) -> float:
    """A budget between the table's fastest and median sampled arch, so the constraint binds."""
    probe = subprocess.run([sys.executable, "-m", "lutnas", "sample", "--space", SPACE, "-n", "64", "--seed", "7"],
                           capture_output=True, text=True, check=True)
    archs = Path(db).with_name("budget-probe.json")
    archs.write_text(probe.stdout)
    pred = subprocess.run([sys.executable, "-m", "lutnas", "predict", "--db", str(db), "--archs", str(archs),
                           "--json"], capture_output=True, text=True, check=True)
    latencies = sorted(row["latency_ms"] for row in json.loads(pred.stdout))
    return latencies[len(latencies) // 4]


def _fmt(entry: object) -> str:
    if isinstance(entry, dict) and entry.get("latency_ms") is not None:
        return f"{entry['latency_ms']:.3f} ms"
    if isinstance(entry, dict) and "note" in entry:
        return str(entry["note"])
    return str(entry)


if __name__ == "__main__":
    main()
