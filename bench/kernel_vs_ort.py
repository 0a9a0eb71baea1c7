"""One kernel or block alone: the lutnas-cpu TVM build against onnxruntime, both on 1 thread.

Where `artifact_vs_ort.py` compares whole networks, this isolates one layer or one block. Both are
timed by the profiler's harness (`LocalRunner.measure`, as tables are) in interleaved rounds, and
the ratio printed is the median of per-round ratios, as this VM's speed drifts by 15-35% within
seconds.

    .venv/bin/python bench/kernel_vs_ort.py --depthwise 96,64,7,2          # C, H=W, k, stride (+ ReLU6)
    .venv/bin/python bench/kernel_vs_ort.py --pointwise 16,96,64           # Cin, Cout, H=W (+ ReLU6)
    .venv/bin/python bench/kernel_vs_ort.py --block mbconv_k7_e6_s2_i16_o24_g1_relu6 --size 64
    .venv/bin/python bench/kernel_vs_ort.py --onnx model.onnx               # any model, static input shape

A single kernel flatters lutnas: onnxruntime converts NCHW to its blocked NCHWc layout and back
around every kernel, which a network (or a block) does once. Measured here (Xeon, AVX-512,
--mcpu host, 5 rounds each), TVM over onnxruntime for the three layers of that block alone:
depthwise 96x64x64 k7 s2 0.973 (0.142-0.146 vs 0.142-0.149 ms), expand 16->96 at 64x64 0.733,
project 96->24 at 32x32 0.651 (0.030 vs 0.047 ms); the block itself 1.449 (0.30 vs 0.21 ms).
onnxruntime's three layers alone sum to ~0.36 ms, its block takes 0.21: the layout it keeps
between kernels is what lutnas's NCHW kernels lost to, not any one loop nest. (Those figures are
`--pipeline lutnas-cpu-nchw`'s, then the only lutnas-cpu.) `lutnas-cpu` now converts the network to
channels-last itself, so a single layer pays two transposes (NCHW in, NCHW out) just as a lone
onnxruntime kernel pays its reorders: compare whole networks (`artifact_vs_ort.py`) for it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TVM_NUM_THREADS", "1")

import numpy as np


def depthwise_net(spec: str) -> tuple[object, tuple[int, ...], str]:
    import torch

    channels, size, kernel, stride = (int(v) for v in spec.split(","))
    net = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, kernel, stride, kernel // 2, groups=channels),
                              torch.nn.ReLU6()).eval()
    return net, (1, channels, size, size), f"depthwise c{channels} {size}x{size} k{kernel} s{stride}"


def pointwise_net(spec: str) -> tuple[object, tuple[int, ...], str]:
    import torch

    cin, cout, size = (int(v) for v in spec.split(","))
    net = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU6()).eval()
    return net, (1, cin, size, size), f"pointwise {cin}->{cout} {size}x{size}"


def block_net(spec: str, size: int) -> tuple[object, tuple[int, ...], str]:
    from lutnas.spaces.blocks import Block, BlockSpec

    parsed = BlockSpec.parse(spec)
    block = Block(parsed, (1, parsed.in_ch, size, size))
    return block.build(), block.input_shape, f"{spec} @ {size}x{size}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--depthwise", metavar="C,H,K,S", help="one depthwise conv + ReLU6")
    what.add_argument("--pointwise", metavar="CIN,COUT,H", help="one 1x1 conv + ReLU6")
    what.add_argument("--block", metavar="SPEC", help="a block spec of the search spaces")
    what.add_argument("--onnx", type=Path, help="an ONNX model (one input of static shape)")
    ap.add_argument("--size", type=int, default=32, help="input height = width for --block")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pipeline", default="lutnas-cpu", help="lutnas-cpu (NHWC), lutnas-cpu-nchw, ...")
    args = ap.parse_args()

    from lutnas.lowering import build, export_onnx, get_target
    from lutnas.lowering.ort import ort_session
    from lutnas.lowering.targets import host_cpu_options
    from lutnas.profiler.measurement import MeasureJob
    from lutnas.profiler.runners import LocalRunner

    work = Path(tempfile.mkdtemp(prefix="lutnas-kernel-"))
    if args.onnx:
        from lutnas.latency_tables.kernel_table import read_models

        model = read_models([args.onnx])[0]
        onnx_path, shape, label = model.path, model.input_shape, f"{args.onnx.name} {model.input_shape}"
    else:
        if args.depthwise:
            net, shape, label = depthwise_net(args.depthwise)
        elif args.pointwise:
            net, shape, label = pointwise_net(args.pointwise)
        else:
            net, shape, label = block_net(args.block, args.size)
        onnx_path = export_onnx(net, shape, work / "kernel.onnx")
    target = get_target("x86", num_cores=1, **host_cpu_options())
    built = build(onnx_path, shape, target, pipeline=args.pipeline)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    session = ort_session(onnx_path, threads=1)
    reference = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(built.run(x), reference, rtol=1e-4, atol=1e-4)
    job = {"key": label, "input_shape": shape, "target": target.name, "threads": 1, "repeats": 7,
           "min_repeat_ms": 20.0}
    jobs = {"tvm": MeasureJob(runtime="tvm", library_path=built.export_library(work / "kernel.so"), **job),
            "onnxruntime": MeasureJob(runtime="onnxruntime", onnx_path=onnx_path, **job)}
    runners = {name: LocalRunner(target, name, 1) for name in jobs}
    ratios = []
    print(label)
    for r in range(args.rounds):
        ms = {name: runners[name].measure(mjob).median_ms for name, mjob in jobs.items()}
        ratios.append(ms["tvm"] / ms["onnxruntime"])
        print(f"round {r}: tvm {ms['tvm']:.4f} ms  onnxruntime {ms['onnxruntime']:.4f} ms  ratio {ratios[-1]:.2f}")
    print(f"tvm_over_ort={np.median(ratios):.3f}")


if __name__ == "__main__":
    main()
