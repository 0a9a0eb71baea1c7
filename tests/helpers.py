"""Helpers shared by the tests (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]

# Runs the CLI in a fresh process where torch / onnx / onnxruntime cannot be imported: what a
# runtime-only host (a GPU box, a board) has.
NO_TORCH = ("import sys\nfor m in ('torch', 'onnx', 'onnxruntime'): sys.modules[m] = None\n"
            "from lutnas.cli import main\nmain(sys.argv[1:])\n")


def tiny_net():
    """A seeded 5-layer conv net whose output depends on its input (unlike a random-init space net)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3, stride=2),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(1), torch.nn.Linear(4, 5),
    ).eval()


def run_lutnas(*args: str, no_torch: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    """`lutnas ARGS` in a subprocess (TVM pool of 1 thread), optionally without torch/onnx/onnxruntime."""
    cmd = [sys.executable, "-c", NO_TORCH, *args] if no_torch else [sys.executable, "-m", "lutnas", *args]
    env = {**os.environ, "TVM_NUM_THREADS": "1"}
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def bench_script(name: str) -> ModuleType:
    """`bench/NAME.py` imported as a module, for a test that runs a slice of what the script runs with
    the script's own code (its `main` does not run; scripts keep process-wide settings in `main`)."""
    module_name = f"bench_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, REPO / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module   # dataclasses look their module up while the class is made
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def copy_database(src: Path, dst: Path) -> Path:
    """Copy a SQLite database with its online backup API (WAL content included). Never copy a
    database file with file I/O in a process that has it open: closing that descriptor drops the
    process's SQLite locks on the file (see conftest.py)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(src)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return dst


def runnable_here(tgt):
    """`tgt`, or, where its `-mcpu` implies instructions this x86 CPU lacks (a schedule made for
    AVX-512 checked on an AVX2 host), this host's own x86 target with the same cores: the schedule's
    arithmetic is what is checked, and LLVM splits its vectors to this CPU's width."""
    from lutnas.lowering.cpu_features import missing_host_features
    from lutnas.lowering.targets import get_target, host_cpu_options

    attrs = tgt.attrs
    mcpu, triple = attrs.get("mcpu"), str(attrs.get("mtriple", ""))
    if tgt.kind.name != "llvm" or not mcpu or (triple and not triple.startswith("x86_64")):
        return tgt
    if not missing_host_features(str(mcpu), tuple(str(a) for a in attrs.get("mattr", []))):
        return tgt
    cores = attrs.get("num-cores")
    return get_target("x86", num_cores=None if cores is None else int(cores), **host_cpu_options()).tvm_target()


def assert_same_outputs(func, scheduled, tgt, name: str = "") -> None:
    """A PrimFunc and its schedule, each built for `tgt` (`runnable_here`) and run on the same
    seeded random arguments, write the same last argument (the output)."""
    import numpy as np
    import tvm

    tgt = runnable_here(tgt)
    dev = tvm.cpu()
    outs = []
    for fn in (func, scheduled):
        lib = tvm.tirx.build(tvm.IRModule({"main": fn.with_attr("global_symbol", "main")}), target=tgt)
        rng = np.random.default_rng(0)
        args = [tvm.runtime.tensor(np.asarray(rng.standard_normal([int(d) for d in p.ty.shape]), dtype="float32"), dev)
                for p in fn.params]
        lib["main"](*args)
        outs.append(args[-1].numpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-5, err_msg=name)


def scaled_runner(target, runtime: str, threads: int, scale):
    """A real local runner for a device slower, or drifting, by a known amount: every sample it takes is
    really measured, then multiplied by `scale(seconds)`, the seconds since its first sample at the
    sample's mid-time. `runner.seen[key]`: every scaled sample with its mid-time."""
    import time

    from lutnas.profiler.runners import LocalRunner

    runner = LocalRunner(target, runtime, threads)
    sampler, first = runner.sampler, []
    runner.seen = {}

    def scaled_sampler(job):
        made = sampler(job)
        evaluate = made.evaluate

        def scaled(n: int) -> tuple[float, ...]:
            started = time.time()
            first[:] = first or [started]
            samples = evaluate(n)
            mid = 0.5 * (started + time.time())
            out = tuple(s * scale(mid - first[0]) for s in samples)
            runner.seen.setdefault(job.key, []).extend((mid, v) for v in out)
            return out

        made.evaluate = scaled
        return made

    runner.sampler = scaled_sampler
    return runner
