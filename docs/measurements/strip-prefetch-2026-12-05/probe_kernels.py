"""Shared by this folder's kernel probes: blocks exported from torch, lowered by `lutnas-cpu` under a
patch, their kernels timed alone and hot through the profiler's kernel jobs, variants interleaved.

    python <probe>.py BLOCK ...     BLOCK = C,HW,K,S[,F]: depthwise KxK stride S over C x HW x HW,
                                    ReLU6, then a 1x1 to F channels when F is given
"""
import contextlib
from pathlib import Path

import numpy as np
import torch

from lutnas.lowering import export_onnx
from lutnas.lowering.kernels import enumerate_kernels, export_module
from lutnas.lowering.targets import get_target, system_cpu
from lutnas.lowering.tvm_build import compile_lowered, import_model, lower_relax
from lutnas.profiler.kernel_timing import KernelJob
from lutnas.profiler.runners import LocalRunner

WORK = Path("/tmp/lutnas-probe-kernels")
TARGET = get_target("x86", mcpu=system_cpu())


def block(spec: str, padding: bool = True) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """The block of `spec` (C,HW,K,S[,F]) and its input shape; without padding the input grows by it."""
    c, hw, k, s, *f = map(int, spec.split(","))
    layers = [torch.nn.Conv2d(c, c, k, s, k // 2 if padding else 0, groups=c), torch.nn.ReLU6()]
    layers += [torch.nn.Conv2d(c, f[0], 1)] if f else []
    size = hw if padding else hw + 2 * (k // 2)
    return torch.nn.Sequential(*layers).eval(), (1, c, size, size)


def kernel_jobs(net: torch.nn.Module, shape: tuple[int, ...], tag: str, patch=contextlib.nullcontext):
    """(calls, KernelJob) of every conv kernel of `net` lowered under `patch()`."""
    WORK.mkdir(exist_ok=True)
    path = export_onnx(net, shape, WORK / f"{tag}.onnx")
    mod, _ = import_model(path, shape)
    with patch():
        lowered = lower_relax(mod, TARGET, "lutnas-cpu")
    kernels = enumerate_kernels(lowered, shape, "lutnas-cpu")
    lib = export_module(compile_lowered(lowered, TARGET).mod.imports[0], WORK / f"{tag}.so", TARGET)
    return [(calls, KernelJob(info.signature, lib, info.name, [q.shape for q in info.params],
                              [q.dtype for q in info.params], target=TARGET.name, threads=1, repeats=20,
                              min_repeat_ms=0.0))
            for info, calls in zip(kernels.kernels, kernels.calls) if "conv2d" in info.name]


def time_variants(variants: list, rounds: int = 9) -> list[np.ndarray]:
    """Per variant, its kernels' summed median time (us) in each of `rounds` interleaved rounds."""
    runner = LocalRunner(TARGET, "tvm", 1)
    totals = [[] for _ in variants]
    for _ in range(rounds):
        for i, jobs in enumerate(variants):
            totals[i].append(sum(float(np.median(runner.measure_kernel(j).samples_ms)) * 1e3 * n for n, j in jobs))
    return [np.array(t) for t in totals]


def report(spec: str, labels: list[str], totals: list[np.ndarray]) -> str:
    """One line: the first variant's time, then every other's median ratio to it over rounds."""
    c, hw, k, s, *_ = map(int, spec.split(","))
    mflop = 2 * c * (hw // s) ** 2 * k * k / 1e6
    base = totals[0]
    parts = [f"{labels[0]} {np.median(base):.1f} us ({mflop / np.median(base) * 1e3:.0f} GFLOP/s depthwise)"]
    parts += [f"{label} {np.median(t):.1f} us x{np.median(t / base):.3f}" for label, t in zip(labels[1:], totals[1:])]
    return f"{spec}: " + ", ".join(parts)
