"""Whole networks built with and without one of the pipeline's graph rewrites, side by side in one process.

Each sampled network (`--per-space` archs of every `--spaces` space, `--seed`) is compiled by the
default channels-last pipeline with the rewrite off and on:
- `--rewrite dw-pw`: `lowering.dw_pw_fusion`, once per `--thresholds` value (the smallest plane, in
  pixels, a fused 1x1 may have);
- `--rewrite grouped-pointwise`: `lowering.grouped_pointwise` (two-group 1x1s dense, channel
  shuffles folded; only fbnet has them);
- `--rewrite stack-accumulators`: the rules' accumulators as stack arrays (`rules.base.ACCUMULATOR_SCOPE`)
  and the weight prefetch they allow, against the rules of the morning of 2026-12-05 (accumulators
  in TVM's workspace pool: one allocation per tile);
- `--rewrite weight-prefetch`: deep 1x1s prefetching their next weight strip (`rules.nhwc.prefetch_next_strip`);
- `--rewrite strip-prefetch`: which 1x1s prefetch: strips beyond the L1 budget only (revision 16),
  against every strip size (`rules.nhwc.PREFETCH_STRIPS_OVER_BYTES` = 0, the default since);
- `--rewrite input-transpose`: the input's NCHW -> NHWC transpose as a kernel of its own, against the
  stem conv reading the NCHW input in place (`lowering.input_layout_fusion`);
- `--rewrite fused-tile`: a fused depthwise + 1x1's pixels per tile as a depthwise alone picks them,
  against the 1x1's register tile filled (`rules.nhwc.fused_pixels`);
- `--rewrite pixel-major`: flat 1x1s over fewer pixels than channels with strips outermost, against
  pixel tiles outermost where their weights are at most each `--thresholds` value, in bytes
  (`rules.nhwc.PIXEL_MAJOR_MAX_WEIGHT_BYTES`);
- `--rewrite strips-outer`: 1x1s of a one-thread build walking pixel tiles outermost (revision 24),
  against strips outermost where their weights are at least each `--thresholds` value, in bytes
  (`rules.nhwc.SINGLE_CORE_STRIPS_MIN_WEIGHT_BYTES`; builds for other thread counts are unchanged);
- `--rewrite expand-bands`: an inverted residual's expansion 1x1 apart, against the three convolutions
  in one kernel computed in bands of at most each `--thresholds` value of expanded rows, in bytes
  (`rules.banded`, `dw_pw_fusion.EXPAND_INTO_BANDS`);
- `--rewrite pad-rows`: a 1x1 reading a channel-padded tensor reads only its real channels
  (`lowering.channel_slices`), against multiplying the pad channels by zero weight rows;
- `--rewrite head-classifier`: the head 1x1, global mean and classifier in one kernel (a build for `--threads`)
  (`lowering.head_classifier`, `rules.head`), against three;
- `--rewrite head-streams`: the head kernel's classifier in independent chains of output vectors
  and its conv prefetching its next weight strip (`rules.head.CLASSIFIER_CHAINS`,
  `PREFETCH_CONV_STRIP`), against one chain and the classifier's rows prefetched alone (revision 29);
- `--rewrite reciprocal-divide`: float32 divisions by a constant scalar (h-swish's / 6) as
  multiplications by the reciprocal (`lowering.fast_math.RECIPROCAL_DIVIDE`), against divisions;
- `--rewrite vector-tile`: row reductions (global means, batch-1 dense layers) vectorized by up to
  four whole vectors, three included (revision 19), against 4, 2 or 1 (`rules.elementwise`).
Every build must compute the same output (within 1e-4 of its range); then they are timed in turn,
`--rounds` rounds of 10 calls each after one untimed call, and the median over rounds of the ratio
on / off is printed per network, with the geomean. The builds share every time window, so the ratio
holds on a VM whose speed moves (docs/measurements/depthwise-pointwise-fusion-2026-12-04.md).

    .venv/bin/python bench/fusion_ab.py --resolution 224 --threads 1        # ~2.5 min here
    .venv/bin/python bench/fusion_ab.py --rewrite grouped-pointwise --spaces fbnet --per-space 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from unittest.mock import patch

import numpy as np

OFF = 10**9   # a plane threshold no network reaches: the fusion off


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-space", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--rewrite", choices=("dw-pw", "grouped-pointwise", "stack-accumulators", "weight-prefetch",
                                          "strip-prefetch", "input-transpose", "fused-tile", "vector-tile",
                                          "pixel-major", "strips-outer", "expand-bands", "pad-rows",
                                          "head-classifier", "head-streams", "reciprocal-divide"),
                    default="dw-pw")
    ap.add_argument("--spaces", default="proxyless,fbnet,ofa-mbv3")
    ap.add_argument("--thresholds", default="784",
                    help="dw-pw: plane sizes (pixels) to build fused with, comma-separated")
    return ap.parse_args()


def fusion_threshold(pixels: int) -> AbstractContextManager[object]:
    import lutnas.lowering.dw_pw_fusion as fusion

    return patch.object(fusion, "MIN_PLANE_PIXELS", pixels)


def fused_tile(on: bool) -> AbstractContextManager[object]:
    from lutnas.lowering.rules import nhwc

    return patch.object(nhwc, "FUSED_TILE_FILLS_ACCUMULATORS", on)


def input_transpose(on: bool) -> AbstractContextManager[object]:
    import tvm

    import lutnas.lowering.input_layout_fusion as rewrite

    return nullcontext() if on else patch.object(rewrite, "fuse_input_transpose", lambda: tvm.transform.Sequential([]))


def grouped_pointwise(on: bool) -> AbstractContextManager[object]:
    import tvm

    import lutnas.lowering.grouped_pointwise as rewrite

    if on:
        return nullcontext()
    # `pipeline.fusion_passes` imports the pass when it is called: an identity pass instead
    return patch.object(rewrite, "dense_grouped_pointwise", lambda: tvm.transform.Sequential([]))


@contextmanager
def stack_accumulators(on: bool) -> Iterator[None]:
    """Off: the rules as before `rules.base.ACCUMULATOR_SCOPE` -- accumulators in "local" buffers
    (TVM's workspace pool, one allocation per tile), as many as three quarters of the registers, and
    no weight prefetch (which needs stack accumulators)."""
    from lutnas.lowering.rules import base, nhwc

    with ExitStack() as stack:
        if not on:
            for module, name, value in ((base, "ACCUMULATOR_SCOPE", "local"), (base, "STACK_ARRAY_BYTES", 1 << 20),
                                        (nhwc, "PREFETCH_STRIPS", False)):
                stack.enter_context(patch.object(module, name, value))
        yield


def weight_prefetch(on: bool) -> AbstractContextManager[object]:
    from lutnas.lowering.rules import nhwc

    return patch.object(nhwc, "PREFETCH_STRIPS", on)


def strip_prefetch(over_bytes: int) -> AbstractContextManager[object]:
    from lutnas.lowering.rules import nhwc

    return patch.object(nhwc, "PREFETCH_STRIPS_OVER_BYTES", over_bytes)


def row_vector_tile(whole_powers_of_two: bool) -> AbstractContextManager[object]:
    """Off: revision 19's tile, the largest of 4, 3, 2, 1 whole vectors dividing the row."""
    from lutnas.lowering.rules import elementwise

    fewer = elementwise.vector_tile

    def any_count(n: int, lanes: int) -> int:
        return next((d for d in range(4 * lanes, 0, -lanes) if n % d == 0), fewer(n, lanes))

    return nullcontext() if whole_powers_of_two else patch.object(elementwise, "vector_tile", any_count)


def expand_bands(band_bytes: int | None) -> AbstractContextManager[object]:
    """None: the expansion 1x1 apart (revision 25); else bands of at most `band_bytes` expanded rows."""
    import lutnas.lowering.dw_pw_fusion as fusion
    from lutnas.lowering.rules import banded

    if band_bytes is None:
        return patch.object(fusion, "EXPAND_INTO_BANDS", False)
    return patch.object(banded, "BAND_BYTES", band_bytes)


def pad_rows(sliced: bool) -> AbstractContextManager[object]:
    """Off: a 1x1 reading a padded tensor multiplies its pad channels by zero weight rows (revision 26)."""
    from lutnas.lowering import channel_pad

    return patch.object(channel_pad, "SLICE_PAD_ROWS", sliced)


def rule_thresholds(constant: str, off: tuple[str, int], label: str, thresholds: str) -> list[tuple[str, object]]:
    """Builds with `rules.nhwc.<constant>` at `off` (label, value), then at each of `thresholds` (bytes)."""
    from lutnas.lowering.rules import nhwc

    return [(off[0], lambda: patch.object(nhwc, constant, off[1]))] + [
        (f"{label} {t} B", lambda t=t: patch.object(nhwc, constant, t)) for t in (int(v) for v in thresholds.split(","))]


@contextmanager
def head_streams(on: bool) -> Iterator[None]:
    from lutnas.lowering.rules import head

    with patch.object(head, "CLASSIFIER_CHAINS", head.CLASSIFIER_CHAINS if on else 1), \
            patch.object(head, "PREFETCH_CONV_STRIP", on):
        yield


def variants(args: argparse.Namespace) -> list[tuple[str, object]]:
    """(label, context manager factory) per build; the first is the rewrite off."""
    if args.rewrite == "strip-prefetch":
        from lutnas.lowering.rules.nhwc import L1_BUDGET_BYTES

        return [("strips > L1 budget", lambda: strip_prefetch(L1_BUDGET_BYTES)),
                ("every strip", lambda: strip_prefetch(0))]
    if args.rewrite == "weight-prefetch":
        return [("off", lambda: weight_prefetch(False)), ("on", lambda: weight_prefetch(True))]
    if args.rewrite == "stack-accumulators":
        return [("off", lambda: stack_accumulators(False)), ("on", lambda: stack_accumulators(True))]
    if args.rewrite == "grouped-pointwise":
        return [("off", lambda: grouped_pointwise(False)), ("on", lambda: grouped_pointwise(True))]
    if args.rewrite == "fused-tile":
        return [("off", lambda: fused_tile(False)), ("on", lambda: fused_tile(True))]
    if args.rewrite == "pixel-major":
        return rule_thresholds("PIXEL_MAJOR_MAX_WEIGHT_BYTES", ("strips outer", 0), "pixels outer <=", args.thresholds)
    if args.rewrite == "strips-outer":
        return rule_thresholds("SINGLE_CORE_STRIPS_MIN_WEIGHT_BYTES", ("pixels outer", 1 << 62), "strips outer >=",
                               args.thresholds)
    if args.rewrite == "vector-tile":
        return [("3 vectors", lambda: row_vector_tile(False)), ("1, 2, 4", lambda: row_vector_tile(True))]
    if args.rewrite == "expand-bands":
        return [("apart", lambda: expand_bands(None))] + [
            (f"bands <= {t} B", lambda t=t: expand_bands(t)) for t in (int(v) for v in args.thresholds.split(","))]
    if args.rewrite == "pad-rows":
        return [("zero rows", lambda: pad_rows(False)), ("sliced", lambda: pad_rows(True))]
    if args.rewrite == "input-transpose":
        return [("off", lambda: input_transpose(False)), ("on", lambda: input_transpose(True))]
    if args.rewrite == "head-classifier":
        import lutnas.lowering.head_classifier as head

        return [("apart", lambda: patch.object(head, "FUSE_HEAD_CLASSIFIER", False)),
                ("one kernel", lambda: patch.object(head, "FUSE_HEAD_CLASSIFIER", True))]
    if args.rewrite == "reciprocal-divide":
        from lutnas.lowering import fast_math

        return [("divide", lambda: patch.object(fast_math, "RECIPROCAL_DIVIDE", False)),
                ("multiply", lambda: patch.object(fast_math, "RECIPROCAL_DIVIDE", True))]
    if args.rewrite == "head-streams":
        return [("one chain", lambda: head_streams(False)), ("chains + conv strip", lambda: head_streams(True))]
    return [("off", lambda: fusion_threshold(OFF))] + [
        (f"planes >= {t} px", lambda t=t: fusion_threshold(t)) for t in (int(v) for v in args.thresholds.split(","))]


def builds(path: Path, shape: tuple[int, ...], settings: list[tuple[str, object]], threads: int) -> list:
    """One Relax VM per setting, built for `threads` (the target's `num-cores`)."""
    import tvm
    from tvm import relax

    from lutnas.lowering.pipeline import cpu_pipeline
    from lutnas.lowering.targets import get_target, host_cpu_options
    from lutnas.lowering.tvm_build import compile_lowered, import_model

    spec = get_target("x86", num_cores=threads, **host_cpu_options())
    target = spec.tvm_target()
    vms = []
    for _label, setting in settings:
        with setting():   # code generation inside too: a setting may change the TIR lowering
            mod, _ = import_model(path, shape)
            with target:
                lowered = cpu_pipeline(target)(mod)
            vms.append(relax.VirtualMachine(compile_lowered(lowered, spec), tvm.cpu()))
    return vms


def networks(args: argparse.Namespace, settings: list, work: Path) -> list[tuple[str, list, object]]:
    import tvm

    from lutnas.lowering import export_onnx
    from lutnas.spaces import get_space

    shape = (1, 3, args.resolution, args.resolution)
    x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
    out = []
    for name in args.spaces.split(","):
        space, rng = get_space(name), np.random.default_rng(args.seed)
        for i in range(args.per_space):
            arch = space.sample(rng)
            path = export_onnx(space.build(arch, args.resolution).eval(), shape, work / f"{name}{i}.onnx")
            vms = builds(path, shape, settings, args.threads)
            want = vms[0]["main"](x).numpy()
            for vm in vms[1:]:
                got = vm["main"](x).numpy()
                if np.abs(got - want).max() > 1e-4 * np.abs(want).max() + 1e-5:
                    raise SystemExit(f"{name}#{i}: the builds' outputs differ by {np.abs(got - want).max():.3g}")
            out.append((f"{name}#{i}", vms, x))
    return out


def main() -> None:
    args = parse()
    os.environ["TVM_NUM_THREADS"] = str(args.threads)   # before TVM's thread pool exists
    import tvm

    settings = variants(args)
    with tempfile.TemporaryDirectory(prefix="lutnas-fusion-ab-") as work:
        nets = networks(args, settings, Path(work))
    times = {name: [[] for _ in vms] for name, vms, _ in nets}
    for _ in range(args.rounds):
        for name, vms, x in nets:
            for k, vm in enumerate(vms):
                vm["main"](x)
                times[name][k].append(vm.time_evaluator("main", tvm.cpu(), number=10, repeat=1)(x).mean * 1e3)
    labels = [label for label, _ in settings[1:]]
    ratios: dict[str, list[float]] = {label: [] for label in labels}
    print(f"{args.rewrite}: {args.resolution} px, {args.threads} thread(s), {args.rounds} rounds; on / off (median of rounds)")
    for name, per_build in times.items():
        off = np.array(per_build[0])
        line = f"{name:12s} off {np.median(off):.3f} ms"
        for label, on in zip(labels, per_build[1:]):
            ratio = float(np.median(np.array(on) / off))
            ratios[label].append(ratio)
            line += f"  {label}: x{ratio:.3f}"
        print(line, flush=True)
    for label, values in ratios.items():
        print(f"geomean on / off, {label}: x{np.exp(np.mean(np.log(values))):.3f}")


if __name__ == "__main__":
    main()
