"""Where a network's time goes: every fused kernel of one sampled network, timed alone.

TVM 0.27 has no `vm.profile`; each kernel is looked up in the executable's compiled library and
timed with that function's own `time_evaluator` on random tensors of its parameter shapes (the
weight-packing preprocesses the pipeline folds at compile time are skipped). Hot: the kernel is
repeated with its weights in cache. `--cold`: TVM's `cache_flush_cpu_non_first_arg` evicts every
argument but the first (the activation input) before each call, as a network meets its weights.
Kernels timed alone sum to less than the network (its weights stream from memory, and the VM calls
them), so compare pipelines by their sums side by side, and whole networks with artifact_vs_ort.py.

    .venv/bin/python bench/kernel_profile.py --space fbnet --pipeline lutnas-cpu [--cold] [--top 15]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TVM_NUM_THREADS", "1")

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pipeline", default="lutnas-cpu")
    ap.add_argument("--cold", action="store_true", help="evict the weights before every call")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()

    import tempfile
    from pathlib import Path

    import tvm

    from lutnas.lowering import export_onnx, get_target
    from lutnas.lowering.frontend import import_onnx
    from lutnas.lowering.pipeline import build_pipeline
    from lutnas.lowering.targets import host_cpu_options
    from lutnas.spaces import get_space

    target = get_target("x86", **host_cpu_options()).tvm_target()
    space = get_space(args.space)
    arch = space.sample(np.random.default_rng(args.seed))
    shape = (1, 3, args.resolution, args.resolution)
    path = export_onnx(space.build(arch, args.resolution), shape, Path(tempfile.mkdtemp()) / "net.onnx")
    mod = import_onnx(path, shape).mod
    lowered = build_pipeline(args.pipeline, target)(mod)   # the Relax module as the pipeline leaves it
    lib = tvm.compile(mod, target=target, relax_pipeline=build_pipeline(args.pipeline, target)).mod.imports[0]
    rows = [_time(lib, gv.name_hint, func, args.cold) for gv, func in lowered.functions_items()
            if isinstance(func, tvm.tirx.PrimFunc) and not gv.name_hint.endswith("_weight_prepack")]
    rows = sorted((r for r in rows if r is not None), reverse=True)
    print(f"{args.space} @{args.resolution} {args.pipeline} {'cold' if args.cold else 'hot'}: "
          f"{len(rows)} kernels, sum {sum(r[0] for r in rows):.3f} ms")
    for ms, name, shapes in rows[: args.top]:
        print(f"{ms:8.4f} ms  {name[:60]:60s} {shapes}")


def _time(lib, name: str, func, cold: bool):
    """(median ms, name, first two parameter shapes), or None for a function the library lacks."""
    import tvm

    try:
        lib.get_function(name)
    except Exception:  # noqa: BLE001 -- folded away or inlined by the pipeline
        return None
    dev = tvm.cpu()
    rng = np.random.default_rng(0)
    shapes = [tuple(int(d) for d in p.shape) for p in func.params]
    args = [tvm.runtime.tensor(rng.standard_normal(s).astype(p.dtype), dev) for s, p in zip(shapes, func.params)]
    if cold:
        timer = lib.time_evaluator(name, dev, number=1, repeat=30, f_preproc="cache_flush_cpu_non_first_arg")
    else:
        timer = lib.time_evaluator(name, dev, number=20, repeat=3, min_repeat_ms=10)
    return float(np.median(timer(*args).results)) * 1e3, name, shapes[:2]


if __name__ == "__main__":
    main()
