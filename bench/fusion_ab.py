"""Whole networks built with and without the depthwise-pointwise fusion, side by side in one process.

Each sampled network (`--per-space` archs of every space, `--seed`) is compiled by the default
channels-last pipeline twice: with `lowering.dw_pw_fusion` at its plane threshold and with the
fusion off (every `--thresholds` value is one more build: the smallest plane, in pixels, a fused
1x1 may have). Both builds must compute the same output (within 1e-4 of its range); then they are
timed in turn, `--rounds` rounds of 10 calls each after one untimed call, and the median over
rounds of the ratio fused / unfused is printed per network, with the geomean. The two builds share
every time window, so the ratio holds on a VM whose speed moves (docs/measurements/
depthwise-pointwise-fusion-2026-12-04.md).

    .venv/bin/python bench/fusion_ab.py --resolution 224 --threads 1        # ~2.5 min here
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

OFF = 10**9   # a plane threshold no network reaches: the fusion off


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-space", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--thresholds", default="784", help="plane sizes (pixels) to build fused with, comma-separated")
    return ap.parse_args()


def builds(path: Path, shape: tuple[int, ...], thresholds: list[int]) -> list:
    """One Relax VM per threshold (the first: fusion off)."""
    import tvm
    from tvm import relax

    import lutnas.lowering.dw_pw_fusion as fusion
    from lutnas.lowering.pipeline import cpu_pipeline
    from lutnas.lowering.targets import get_target, system_cpu
    from lutnas.lowering.tvm_build import compile_lowered, import_model

    spec = get_target("x86", mcpu=system_cpu())
    target = spec.tvm_target()
    saved, vms = fusion.MIN_PLANE_PIXELS, []
    try:
        for threshold in [OFF, *thresholds]:
            fusion.MIN_PLANE_PIXELS = threshold
            mod, _ = import_model(path, shape)
            with target:
                lowered = cpu_pipeline(target)(mod)
            vms.append(relax.VirtualMachine(compile_lowered(lowered, spec), tvm.cpu()))
    finally:
        fusion.MIN_PLANE_PIXELS = saved
    return vms


def networks(args: argparse.Namespace, thresholds: list[int], work: Path) -> list[tuple[str, list, object]]:
    import tvm

    from lutnas.lowering import export_onnx
    from lutnas.spaces import get_space

    shape = (1, 3, args.resolution, args.resolution)
    x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
    out = []
    for name in ("proxyless", "fbnet", "ofa-mbv3"):
        space, rng = get_space(name), np.random.default_rng(args.seed)
        for i in range(args.per_space):
            arch = space.sample(rng)
            path = export_onnx(space.build(arch, args.resolution).eval(), shape, work / f"{name}{i}.onnx")
            vms = builds(path, shape, thresholds)
            want = vms[0]["main"](x).numpy()
            for vm in vms[1:]:
                got = vm["main"](x).numpy()
                if np.abs(got - want).max() > 1e-4 * np.abs(want).max() + 1e-5:
                    raise SystemExit(f"{name}#{i}: fused and unfused outputs differ by {np.abs(got - want).max():.3g}")
            out.append((f"{name}#{i}", vms, x))
    return out


def main() -> None:
    args = parse()
    os.environ["TVM_NUM_THREADS"] = str(args.threads)   # before TVM's thread pool exists
    import tvm

    thresholds = [int(v) for v in args.thresholds.split(",")]
    nets = networks(args, thresholds, Path(tempfile.mkdtemp(prefix="lutnas-fusion-ab-")))
    times = {name: [[] for _ in vms] for name, vms, _ in nets}
    for _ in range(args.rounds):
        for name, vms, x in nets:
            for k, vm in enumerate(vms):
                vm["main"](x)
                times[name][k].append(vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean * 1e3)
    ratios: dict[int, list[float]] = {t: [] for t in thresholds}
    print(f"{args.resolution} px, {args.threads} thread(s), {args.rounds} rounds; fused / unfused (median of rounds)")
    for name, per_build in times.items():
        off = np.array(per_build[0])
        line = f"{name:12s} unfused {np.median(off):.3f} ms"
        for threshold, fused in zip(thresholds, per_build[1:]):
            ratio = float(np.median(np.array(fused) / off))
            ratios[threshold].append(ratio)
            line += f"  planes >= {threshold} px: x{ratio:.3f}"
        print(line, flush=True)
    for threshold, values in ratios.items():
        print(f"geomean fused / unfused, planes >= {threshold} px: x{np.exp(np.mean(np.log(values))):.3f}")


if __name__ == "__main__":
    main()
