"""Where one network's compile time goes: per-phase seconds of `lowering.build` + export, and the
Relax / TIR passes that cost the most.

Phases, in the order `tvm.compile` runs them: ONNX import (Relax frontend); the Relax pipeline,
each top-level pass timed by a pass instrument (the layout rewrite, legalization, fusion, lutnas's
rules, the weight-packing FoldConstant...); VM codegen and the TIR pipeline; LLVM IR generation and
optimisation (`target.build.llvm`); export_library (LLVM machine code + link). The per-phase share
of the total is what to read on a shared machine; absolute seconds inflate with its load.

Variants, compiled alternately in `--rounds` rounds so load drifts hit both alike:

    current      the pipeline as lutnas builds it
    tvm-fold     every `lowering.fold.fold_in_numpy` replaced by Relax's FoldConstant (before the
                 numpy fold: one LLVM build per weight transform, unused PrimFuncs kept)

    .venv/bin/python bench/compile_time.py [--space proxyless] [--resolution 224] [--seed 0]
        [--pipeline lutnas-cpu] [--variants current,tvm-fold] [--rounds 1] [--top 12] [--cprofile out.prof]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TVM_NUM_THREADS", "1")

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0, help="arch sampling seed (printed)")
    ap.add_argument("--pipeline", default=None, help="default: the commands' default for x86")
    ap.add_argument("--top", type=int, default=12, help="passes listed")
    ap.add_argument("--cprofile", default=None, help="also write a cProfile of the whole compile here")
    ap.add_argument("--variants", default="current,tvm-fold", help="comma-separated (see the docstring)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds over the variants")
    args = ap.parse_args()

    from lutnas.lowering.pipeline import resolve_build
    from lutnas.spaces import get_space

    choice = resolve_build("x86", pipeline=args.pipeline)
    space = get_space(args.space)
    arch = space.sample(np.random.default_rng(args.seed))
    print(f"{args.space} @{args.resolution} seed {args.seed} arch {list(arch)}; {choice.describe()}")
    onnx_path = _export(space, arch, args.resolution)
    totals: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for variant in args.variants.split(","):
            with _variant(variant):
                phases, passes = compile_phases(onnx_path, args.resolution, choice, args.cprofile)
            print(f"\n[{variant}, round {r + 1}]")
            _report(phases, passes, args.top)
            totals.setdefault(variant, []).append(tuple(sum(x) for x in zip(*phases.values())))
    print()
    for variant, rows in totals.items():
        wall, cpu = np.median(np.asarray(rows), axis=0)
        print(f"{variant:10s} median total {wall:6.1f} s wall, {cpu:6.1f} s CPU over {len(rows)} round(s)")


def _variant(name: str):
    """A context in which `build_pipeline` builds the named variant."""
    import contextlib

    from lutnas.lowering import fold

    if name == "current":
        return contextlib.nullcontext()
    if name == "tvm-fold":
        from tvm import relax

        return _patched(fold, "fold_in_numpy", relax.transform.FoldConstant)
    raise SystemExit(f"unknown variant {name!r}")


def _patched(module, attr: str, value):
    import contextlib

    @contextlib.contextmanager
    def patch():
        old = getattr(module, attr)
        setattr(module, attr, value)
        try:
            yield
        finally:
            setattr(module, attr, old)

    return patch()


def _export(space, arch, resolution: int) -> Path:
    from lutnas.lowering import export_onnx

    shape = (1, 3, resolution, resolution)
    return export_onnx(space.build(arch, resolution), shape, Path(tempfile.mkdtemp()) / "net.onnx")


def compile_phases(onnx_path: Path, resolution: int, choice, cprofile: str | None = None):
    """({phase: seconds}, [(pass name, seconds)]) of one compile of `onnx_path`."""
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
    from tvm import relax
    from tvm.relax.vm_build import _filter_tir, _vmcodegen

    from lutnas.lowering.onnx_io import load_onnx
    from lutnas.lowering.pipeline import build_pipeline
    from lutnas.lowering.tvm_build import _import

    phases: dict[str, tuple[float, float]] = {}
    clock = _Clock(phases)
    target = choice.target.tvm_target()
    with clock("onnx import"):
        mod = _import(load_onnx(onnx_path), (1, 3, resolution, resolution), "net")
    timing = _PassTimes()
    with clock("relax pipeline"), tvm.transform.PassContext(instruments=[timing]):
        mod = build_pipeline(choice.pipeline, target)(mod)
    with clock("vm codegen"):
        builder = relax.ExecBuilder()
        mod = _vmcodegen(builder, mod, "bytecode")
        tir_mod = _filter_tir(mod)
    with clock("tir pipeline"):
        host_mod = _tir_lower(tir_mod, target)
    with clock("llvm ir + opt"):
        lib = _codegen(host_mod, target)
    with clock("vm link"):
        exe = relax.VMExecutable(relax.vm_build._ffi_api.VMLink(builder, target, lib, [], {}))
    with clock("export (llvm codegen + link)"):
        exe.export_library(str(Path(tempfile.mkdtemp()) / "net.so"))
    return phases, timing.top_level()


def _tir_lower(tir_mod, target):
    import tvm
    from tvm.tirx.build import split_host_device_mods

    tir_mod = tvm.tirx.transform.BindTarget(target.with_host(target))(tir_mod)
    pipeline, finalize_host, _ = tvm.tirx.get_default_tir_pipeline(target)
    with target:
        tir_mod = pipeline(tir_mod)
        host_mod, _ = split_host_device_mods(tir_mod)
        return finalize_host()(host_mod)


def _codegen(host_mod, target):
    from tvm.tirx.build import codegen_build

    return codegen_build(host_mod, target)


class _Clock:
    """Wall and CPU seconds per phase (CPU: this process's threads and its finished children, e.g.
    the linker; on a loaded machine CPU seconds say what the work costs, wall what a user waits)."""

    def __init__(self, phases: dict[str, tuple[float, float]]) -> None:
        self.phases = phases

    def __call__(self, name: str):
        clock = self

        class _Span:
            def __enter__(self):
                self.t0, self.c0 = time.perf_counter(), _cpu()

            def __exit__(self, *exc):
                wall, cpu = clock.phases.get(name, (0.0, 0.0))
                clock.phases[name] = (wall + time.perf_counter() - self.t0, cpu + _cpu() - self.c0)

        return _Span()


def _cpu() -> float:
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _pass_instrument():
    import tvm

    return tvm.instrument.pass_instrument


@_pass_instrument()
class _PassTimes:
    """Seconds per pass, nested passes attributed to their depth (depth 1: the pipeline's own)."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, float]] = []
        self.done: list[tuple[int, str, float]] = []

    def run_before_pass(self, mod, info) -> None:
        self.stack.append((info.name, time.perf_counter()))

    def run_after_pass(self, mod, info) -> None:
        name, t0 = self.stack.pop()
        self.done.append((len(self.stack), name, time.perf_counter() - t0))

    def top_level(self) -> list[tuple[str, float]]:
        """The passes directly inside the pipeline's Sequential, slowest first."""
        seq = [d for d, name, _ in self.done if name == "lutnas_cpu"]
        level = (seq[0] + 1) if seq else 0
        seen: dict[str, int] = {}
        rows = []
        for d, name, secs in self.done:
            if d == level:
                seen[name] = seen.get(name, 0) + 1
                rows.append((f"{name}#{seen[name]}", secs))
        return sorted(rows, key=lambda kv: -kv[1])


def _report(phases: dict[str, tuple[float, float]], passes: list[tuple[str, float]], top: int) -> None:
    wall = sum(w for w, _ in phases.values())
    cpu = sum(c for _, c in phases.values())
    print(f"total {wall:.1f} s wall, {cpu:.1f} s CPU")
    for name, (w, c) in phases.items():
        print(f"  {name:32s} {w:7.2f} s  {w / wall:6.1%}   cpu {c:7.2f} s  {c / cpu:6.1%}")
    print("relax passes (top level, wall):")
    for name, secs in passes[:top]:
        print(f"  {name:40s} {secs:7.2f} s  {secs / wall:6.1%}")


if __name__ == "__main__":
    main()
