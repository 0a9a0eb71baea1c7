"""lutnas-cpu (rules sized for NEON) over TVM's default pipeline for arm64, on the EMULATED board.

EMULATED (qemu-user): NOT AN ARM SPEED FIGURE. qemu translates every AArch64 instruction into host
code at its own cost per instruction, so neither latency, nor the ratio of two schedules, says how
an ARM core would run them. The ratio is a sanity signal only: the rules' schedules (vectorized,
register-tiled, fused) should execute far fewer instructions than TVM's untuned loops, emulated or not.

For one network per space (a seeded sample; OFA's resolution is at least 128, its smallest), built
for arm64 with each pipeline, both libraries are checked to compute the same output on the board,
then timed over TVM RPC in `--rounds` interleaved rounds (each round times both, one thread); a
space's ratio is the median of its per-round ratios lutnas-cpu / tvm-default, and the summary their
geometric mean. Ends with

    emulated_rules_over_tvm_default=<geomean>   (emulated (qemu-user): not an ARM speed figure)

    .venv/bin/python bench/arm_emulated.py [--resolution 64] [--width-mult 1.0] [--rounds 3]
        [--spaces proxyless,fbnet,ofa-mbv3] [--rpc HOST:PORT]

Without `--rpc` it starts the emulated board (`lutnas board up arm64`: root, cached rootfs) on a
free port and stops it at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

PIPELINES = ("lutnas-cpu", "tvm-default")
LABEL = "emulated (qemu-user): not an ARM speed figure"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolution", type=int, default=64, help="input px (OFA: at least its smallest, 128)")
    ap.add_argument("--width-mult", type=float, default=1.0)
    ap.add_argument("--spaces", default="proxyless,fbnet,ofa-mbv3")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds per network")
    ap.add_argument("--rpc", default=None, help="HOST:PORT of a running arm64 board (default: start one)")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    if args.rounds < 1 or args.width_mult <= 0:
        print("--rounds must be >= 1 and --width-mult > 0", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="lutnas-arm-emulated-"))
    nets = [_compile_net(name, args, work) for name in args.spaces.split(",") if name]
    board, host, port = _board(args.rpc)
    try:
        rows = [_time_net(net, host, port, args.rounds) for net in nets]
    finally:
        if board is not None:
            from lutnas.profiler import boards

            boards.stop_board(board.name)
    _report(rows)
    return 0


def _compile_net(space_name: str, args: argparse.Namespace, work: Path) -> dict:
    """One seeded network of the space, exported once and built for arm64 with each pipeline."""
    import numpy as np
    import torch

    from lutnas.lowering import build, export_onnx
    from lutnas.lowering.pipeline import resolve_build
    from lutnas.spaces import get_space

    space = get_space(space_name)
    res = args.resolution if not space.exact_resolutions else max(args.resolution, space.resolutions[0])
    res = space.check_resolution(res)
    torch.manual_seed(args.seed)
    arch = space.sample(np.random.default_rng(args.seed))
    shape = (1, 3, res, res)
    net = with_trained_statistics(space.build(arch, res, width_mult=args.width_mult), shape)
    onnx_path = export_onnx(net, shape, work / f"{space_name}.onnx")
    net = {"name": space_name, "resolution": res, "shape": shape, "libs": {}}
    for pipeline in PIPELINES:
        choice = resolve_build("arm64", pipeline=pipeline)
        t0 = time.time()
        built = build(onnx_path, shape, choice.target, pipeline=choice.pipeline)
        net["libs"][pipeline] = built.export_library(work / f"{space_name}.{pipeline}.so")
        print(f"compiled {space_name} @{res} px with {pipeline} in {time.time() - t0:.1f} s", flush=True)
    return net


def with_trained_statistics(net, shape: tuple[int, ...]):
    """`net` with BatchNorm statistics of its own activations (one train-mode pass over a random
    batch), as a trained network has. At PyTorch's initial statistics every eval-mode layer shrinks
    the signal and a space network's output hardly depends on its input: two builds would agree
    exactly whatever they computed. (Also used by tests/test_arm.py.)"""
    import torch

    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None   # the running statistics become this batch's exactly
    net.train()
    with torch.no_grad():
        net(torch.randn(4, *shape[1:]))
    return net.eval()


def _board(rpc: str | None):
    """(started board or None, host, port): the board at `rpc`, or a fresh emulated one."""
    from lutnas.profiler import boards
    from lutnas.profiler.rpc import parse_address

    if rpc:
        return None, *parse_address(rpc)
    t0 = time.time()
    state = boards.start_board("arm64", boards.free_port())
    print(f"emulated arm64 board up at {state.address()} in {time.time() - t0:.1f} s", flush=True)
    return state, state.host, state.port


def _time_net(net: dict, host: str, port: int, rounds: int) -> dict:
    """Both libraries checked against each other on the board, then timed in interleaved rounds."""
    import numpy as np

    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.rpc import RPCRunner
    from lutnas.profiler.stability import StabilityPolicy

    runner = RPCRunner(host, port, target="arm64", policy=StabilityPolicy(max_passes=1))
    jobs = {p: MeasureJob(key=f"{net['name']}:{p}", input_shape=net["shape"], library_path=lib, target="arm64",
                          repeats=3, min_repeat_ms=0.0, warmup=1) for p, lib in net["libs"].items()}
    x = np.random.default_rng(0).standard_normal(net["shape"]).astype(np.float32)
    outs = [runner.run_once(job, x) for job in jobs.values()]
    scale = max(float(np.abs(outs[1]).max()), 1e-6)
    diff = float(np.abs(outs[0] - outs[1]).max()) / scale
    times: dict[str, list[float]] = {p: [] for p in jobs}
    for _ in range(rounds):
        for pipeline, job in jobs.items():
            times[pipeline].append(runner.measure(job).median_ms)
    ratios = [a / b for a, b in zip(times["lutnas-cpu"], times["tvm-default"], strict=True)]
    row = {"net": net["name"], "resolution": net["resolution"], "rel_diff": diff,
           "ratio": float(np.median(ratios)), **{f"{p}_ms": float(np.median(t)) for p, t in times.items()}}
    agree = f"outputs agree to {diff:.1e} of scale" if diff <= 1e-3 else f"OUTPUTS DISAGREE by {diff:.1e} of scale"
    print(f"{row['net']:10s} @{row['resolution']:3d} px  lutnas-cpu {row['lutnas-cpu_ms']:9.1f} ms  "
          f"tvm-default {row['tvm-default_ms']:9.1f} ms  ratio {row['ratio']:.3f}  ({agree}) [{LABEL}]",
          flush=True)
    return row


def _report(rows: list[dict]) -> None:
    geomean = math.exp(sum(math.log(r["ratio"]) for r in rows) / len(rows))
    print(f"\nrules / tvm-default on arm64, {LABEL}")
    for r in rows:
        print(f"  {r['net']:10s} {r['ratio']:.3f}")
    print(f"  geomean    {geomean:.3f}")
    print(f"load average at end: {os.getloadavg()}")
    print(f"emulated_rules_over_tvm_default={geomean:.3f}   ({LABEL})")


if __name__ == "__main__":
    sys.exit(main())
