"""Where one network's compile time goes, and what lutnas's cuts save, measured side by side.

One network (a space's arch sampled with `--seed`, printed) is compiled the way a compile worker
does it (`lowering.build` + `BuiltModule.export_library`), in phases:

    onnx import        TVM's Relax ONNX frontend
    relax pipeline     the named pipeline (layout, legalize, folds, fusion, lutnas's rules); its
                       top-level passes are timed by a pass instrument and listed
    tir + llvm         VM codegen, the TIR pipeline, LLVM IR and optimisation (`lowering.codegen`)
    export             LLVM machine code for every library, the linker

Each phase in wall seconds (what a user waits) and CPU seconds (this process's threads and its
finished children, the linker): on this shared 2-core machine other work inflates wall time, and
threads only shorten it where a core is free, so read the CPU column for the work and the shares
for where it goes. Variants, compiled alternately in `--rounds` rounds so load drifts hit all alike:

    current       lutnas as it builds
    serial-llvm   LLVM on one thread (`codegen.codegen_jobs` = 1)
    round-robin   LLVM's threads dealt kernels round-robin, not by their unrolled code (`codegen.split_module`)
    before        also every numpy fold (`lowering.fold.fold_in_numpy`) replaced by Relax's
                  FoldConstant: how lutnas compiled before both cuts

    .venv/bin/python bench/compile_time.py [--space proxyless] [--resolution 224] [--seed 0] [--index 0]
        [--pipeline lutnas-cpu] [--variants current,serial-llvm,before] [--rounds 1] [--top 8]
        [--cprofile out.prof]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TVM_NUM_THREADS", "1")

import numpy as np

PHASES = ("onnx import", "relax pipeline", "tir + llvm", "export")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0, help="arch sampling seed (printed)")
    ap.add_argument("--index", type=int, default=0,
                    help="which of the seed's draws: the bench's name#I (`artifact_vs_ort.py --seed S`)")
    ap.add_argument("--pipeline", default=None, help="default: the commands' default for x86")
    ap.add_argument("--variants", default="current,serial-llvm,before", help="comma-separated (see above)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds over the variants")
    ap.add_argument("--top", type=int, default=8, help="Relax passes listed")
    ap.add_argument("--cprofile", default=None, help="write a cProfile of the last compile here")
    args = ap.parse_args()

    from lutnas.lowering.pipeline import resolve_build
    from lutnas.spaces import get_space, sample_archs

    choice = resolve_build("x86", pipeline=args.pipeline)
    space = get_space(args.space)
    arch = list(sample_archs(args.space, args.index + 1, args.seed))[-1]
    print(f"{args.space}#{args.index} @{args.resolution} seed {args.seed} arch {list(arch)}; {choice.describe()}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    onnx_path = _export(space, arch, args.resolution)
    totals: dict[str, list[tuple[float, float]]] = {}
    for r in range(args.rounds):
        for variant in args.variants.split(","):
            with _variant(variant):
                phases, passes = compile_phases(onnx_path, args.resolution, choice, args.cprofile)
            print(f"\n[{variant}, round {r + 1}]")
            _report(phases, passes, args.top)
            totals.setdefault(variant, []).append(tuple(sum(x) for x in zip(*phases.values())))
    print(f"\nload average now {os.getloadavg()[0]:.1f}")
    base = np.median(np.asarray(totals[next(iter(totals))]), axis=0)
    for variant, rows in totals.items():
        wall, cpu = np.median(np.asarray(rows), axis=0)
        print(f"{variant:12s} median {wall:6.1f} s wall, {cpu:6.1f} s CPU over {len(rows)} round(s); "
              f"{args.variants.split(',')[0]} / this: wall {base[0] / wall:.2f}, CPU {base[1] / cpu:.2f}")


def _variant(name: str):
    """A context in which lutnas compiles as the named variant does."""
    from lutnas.lowering import codegen, fold

    if name == "current":
        return contextlib.nullcontext()
    if name == "serial-llvm":
        return _patched([(codegen, "codegen_jobs", lambda: 1)])
    if name == "round-robin":
        return _patched([(codegen, "llvm_cost", lambda func: 1)])   # equal sizes: dealt in turn
    if name == "before":
        from tvm import relax

        return _patched([(codegen, "codegen_jobs", lambda: 1), (fold, "fold_in_numpy", relax.transform.FoldConstant)])
    raise SystemExit(f"unknown variant {name!r}")


@contextlib.contextmanager
def _patched(patches):
    old = [(module, attr, getattr(module, attr)) for module, attr, _ in patches]
    for module, attr, value in patches:
        setattr(module, attr, value)
    try:
        yield
    finally:
        for module, attr, value in old:
            setattr(module, attr, value)


def _export(space, arch, resolution: int) -> Path:
    from lutnas.lowering import export_onnx

    shape = (1, 3, resolution, resolution)
    return export_onnx(space.build(arch, resolution), shape, Path(tempfile.mkdtemp()) / "net.onnx")


def compile_phases(onnx_path: Path, resolution: int, choice, cprofile: str | None = None):
    """({phase: (wall s, CPU s)}, [(Relax pass, wall s)]) of one compile and export of `onnx_path`."""
    import cProfile

    profiler = cProfile.Profile() if cprofile else None
    if profiler:
        profiler.enable()
    try:
        return _timed_compile(onnx_path, resolution, choice)
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(cprofile)


def _timed_compile(onnx_path: Path, resolution: int, choice):
    import tvm

    from lutnas.lowering.codegen import compile_relax
    from lutnas.lowering.frontend import import_onnx
    from lutnas.lowering.onnx_io import load_onnx
    from lutnas.lowering.pipeline import build_pipeline
    from lutnas.lowering.tvm_build import BuiltModule

    phases: dict[str, tuple[float, float]] = {}
    target = choice.target.tvm_target()
    shape = (1, 3, resolution, resolution)
    with _span(phases, "onnx import"):
        mod = import_onnx(load_onnx(onnx_path), shape).mod
    timing = _PassTimes()
    with _span(phases, "tir + llvm"), tvm.transform.PassContext(instruments=[timing]):
        executable = compile_relax(mod, target, build_pipeline(choice.pipeline, target) or "default")
    pipeline = timing.outermost()
    wall, cpu = phases.pop("tir + llvm")
    phases["relax pipeline"] = pipeline
    phases["tir + llvm"] = (wall - pipeline[0], cpu - pipeline[1])
    built = BuiltModule(executable, choice.target, choice.pipeline, shape)
    with tempfile.TemporaryDirectory() as work, _span(phases, "export"):
        built.export_library(Path(work) / "net.so")
    return {name: phases[name] for name in PHASES}, timing.top_level()


@contextlib.contextmanager
def _span(phases: dict[str, tuple[float, float]], name: str):
    t0, c0 = time.perf_counter(), _cpu()
    try:
        yield
    finally:
        wall, cpu = phases.get(name, (0.0, 0.0))
        phases[name] = (wall + time.perf_counter() - t0, cpu + _cpu() - c0)


def _cpu() -> float:
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _pass_instrument():
    import tvm

    return tvm.instrument.pass_instrument


@_pass_instrument()
class _PassTimes:
    """(wall, CPU) per pass of the Relax pipeline (the first top-level pass on the calling thread),
    with its nesting depth; the TIR builds after it are left out."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.pipeline_done = False  # only the first top-level pass (the pipeline) and what it runs
        self.stack: list[tuple[float, float]] = []
        self.done: list[tuple[int, str, float, float]] = []

    def run_before_pass(self, mod, info) -> None:
        if threading.get_ident() == self.thread and not self.pipeline_done:
            self.stack.append((time.perf_counter(), _cpu()))

    def run_after_pass(self, mod, info) -> None:
        if threading.get_ident() == self.thread and not self.pipeline_done:
            t0, c0 = self.stack.pop()
            self.done.append((len(self.stack), info.name, time.perf_counter() - t0, _cpu() - c0))
            self.pipeline_done = not self.stack

    def outermost(self) -> tuple[float, float]:
        """The first top-level pass: the whole Relax pipeline."""
        first = next(row for row in self.done if row[0] == 0)
        return first[2], first[3]

    def top_level(self) -> list[tuple[str, float]]:
        """The passes directly inside the pipeline's Sequential, slowest first (#k: k-th run)."""
        seq = [d for d, name, _, _ in self.done if name == "lutnas_cpu"]
        level = (seq[0] + 1) if seq else 1
        seen: dict[str, int] = {}
        rows = []
        for d, name, wall, _cpu_s in self.done:
            if d == level:
                seen[name] = seen.get(name, 0) + 1
                rows.append((f"{name}#{seen[name]}", wall))
        return sorted(rows, key=lambda kv: -kv[1])


def _report(phases: dict[str, tuple[float, float]], passes: list[tuple[str, float]], top: int) -> None:
    wall = sum(w for w, _ in phases.values())
    cpu = sum(c for _, c in phases.values())
    print(f"total {wall:.1f} s wall, {cpu:.1f} s CPU")
    for name, (w, c) in phases.items():
        print(f"  {name:16s} {w:7.2f} s {w / wall:6.1%}   CPU {c:7.2f} s {c / cpu:6.1%}")
    print("  relax passes (wall):", ", ".join(f"{name} {secs:.2f} s" for name, secs in passes[:top]))


if __name__ == "__main__":
    main()
