"""Build-setting contexts shared by the probes of this folder."""
import os, sys
sys.path.insert(0, "/work/main/docs/measurements/host-features-and-stack-tiles-2026-12-06")
_threads, _argv = os.environ.get("TVM_NUM_THREADS"), sys.argv
sys.argv = [*_argv[:3], _threads or "1"]   # kab.py sets TVM_NUM_THREADS from argv[3] on import
from kab import patched
sys.argv = _argv


def patched_or_config(spec):
    """`kab.patched(spec)`, or for `pc:` specs a PassContext with the given TVM config (a Python dict),
    or for `py:PATH:FN` specs the context manager FN() of the probe file PATH."""
    import ast, tvm
    from contextlib import ExitStack
    stack = ExitStack()
    for part in spec.split("|"):
        if part == "pf-spread":   # each pixel tile prefetches its own 1/tiles of the next strip, one row per tiles steps
            from unittest.mock import patch
            from lutnas.lowering.rules import nhwc
            stack.enter_context(patch.object(nhwc, "prefetch_next_strip", prefetch_spread))
        elif part.startswith("pf:"):   # the next-strip weight prefetch AHEAD strips ahead, into cache LEVEL (3: L1, 2: L2)
            from unittest.mock import patch
            from lutnas.lowering.rules import nhwc
            ahead, level = (int(v) for v in part[3:].split(","))
            stack.enter_context(patch.object(nhwc, "prefetch_next_strip", prefetch_variant(ahead, level)))
        elif part.startswith("tile:"):   # every channels-last 1x1's register tile forced to PX x FV where it divides
            from unittest.mock import patch
            from lutnas.lowering.rules import nhwc
            px, fv = (int(v) for v in part[5:].split(","))
            orig = nhwc.register_tile
            def forced(shape, lanes, max_acc, stack_acc=None, px=px, fv=fv, orig=orig, **kw):
                if shape.pixels % px == 0 and shape.channels % fv == 0:
                    return px, fv
                return orig(shape, lanes, max_acc, stack_acc, **kw)
            stack.enter_context(patch.object(nhwc, "register_tile", forced))
        elif part.startswith("stack:"):   # accumulators up to N bytes as stack allocas (bigstack.py), tiles re-chosen
            import bigstack
            from unittest.mock import patch
            from lutnas.lowering.rules import base
            limit = int(part[6:])
            stack.enter_context(bigstack.as_default_pipeline(limit))
            stack.enter_context(patch.object(base, "STACK_ARRAY_BYTES", limit))
        elif part == "wide-index":   # TIR keeps 64-bit indices (no NarrowDataType(32))
            from unittest.mock import patch
            stack.enter_context(patch.object(tvm.tirx.transform, "NarrowDataType",
                                             lambda bits: tvm.transform.Sequential([])))
        elif part.startswith("py:"):   # py:PATH:FN, a function in a probe file returning a context manager
            import importlib
            path, fn = part[3:].rsplit(":", 1)
            sys.path.insert(0, os.path.dirname(path))
            stack.enter_context(getattr(importlib.import_module(os.path.basename(path)[:-3]), fn)())
        elif part.startswith("pc:"):
            stack.enter_context(tvm.transform.PassContext(opt_level=3, config=ast.literal_eval(part[3:])))
        else:
            stack.enter_context(patched(part))
    return stack


def prefetch_variant(ahead, level):
    """`rules.nhwc.prefetch_next_strip` fetching the strip `ahead` strips on into cache `level`."""
    from tvm import tirx

    def prefetch(sch, conv, rc_loop, outer, pixel_tiles, strips, fv):
        packed = next(r.source for r in sch.get(conv).reads if len(r.region) == 5)
        loop = sch.get(rc_loop)
        following = tirx.min(sch.get(outer).loop_var // pixel_tiles + ahead, strips - 1)
        zero = tirx.const(0, "int64")
        read, where, data = (tirx.const(v, "int32") for v in (0, level, 1))
        lines = []
        for line in range(max(1, fv * 4 // 64)):
            row = tirx.BufferLoad(packed, [following, zero, zero, loop.loop_var, tirx.const(line * 16, "int64")])
            lines.append(tirx.Evaluate(tirx.call_llvm_intrin("void", "llvm.prefetch", tirx.address_of(row), read,
                                                             where, data)))
        body = tirx.SeqStmt([*lines, loop.body])
        sch.state.replace(sch.get_sref(rc_loop), tirx.For(loop.loop_var, loop.min, loop.extent, loop.kind, body,
                                                          loop.thread_binding, loop.annotations))
    return prefetch


def prefetch_spread(sch, conv, rc_loop, outer, pixel_tiles, strips, fv):
    """The next strip's weight rows prefetched once each, spread over the strip's pixel tiles: tile t
    of a strip, at every `pixel_tiles`-th step over the input channels, prefetches row
    t * ceil(rows / tiles) + step / tiles of the next strip (instead of every tile prefetching every row)."""
    from tvm import tirx

    packed = next(r.source for r in sch.get(conv).reads if len(r.region) == 5)
    loop = sch.get(rc_loop)
    rows = int(loop.extent)
    per_tile = -(-rows // pixel_tiles)
    outer_var = sch.get(outer).loop_var
    following = tirx.min(outer_var // pixel_tiles + 1, strips - 1)
    tile = tirx.floormod(outer_var, pixel_tiles)
    rc = loop.loop_var
    row = tirx.min(tile * per_tile + tirx.floordiv(rc, pixel_tiles), rows - 1)
    zero = tirx.const(0, "int64")
    read, to_l2, data = (tirx.const(v, "int32") for v in (0, 2, 1))
    lines = []
    for line in range(max(1, fv * 4 // 64)):
        at = tirx.BufferLoad(packed, [following, zero, zero, row, tirx.const(line * 16, "int64")])
        lines.append(tirx.Evaluate(tirx.call_llvm_intrin("void", "llvm.prefetch", tirx.address_of(at), read, to_l2,
                                                         data)))
    fetch = tirx.IfThenElse(tirx.EQ(tirx.floormod(rc, pixel_tiles), tirx.const(0, "int64")), tirx.SeqStmt(lines)
                            if len(lines) > 1 else lines[0], None)
    body = tirx.SeqStmt([fetch, loop.body])
    sch.state.replace(sch.get_sref(rc_loop), tirx.For(loop.loop_var, loop.min, loop.extent, loop.kind, body,
                                                      loop.thread_binding, loop.annotations))


def network_kernels(probe, space, index, threads, cache_mode="in-model"):
    """Arch `index` of `space` sampled with seed 0 (artifact_vs_ort.py's '#index'), at 224 px, built by
    lutnas-cpu for `threads`: (its kernels ready to time in `cache_mode`, the runner, the input shape,
    the work dir holding net.so)."""
    from pathlib import Path
    import numpy as np
    sys.path.insert(0, "/work/main/bench")
    import kernel_roofline as kr
    from lutnas.lowering import export_onnx, get_target
    from lutnas.lowering.targets import host_cpu_options
    from lutnas.profiler.runners import LocalRunner
    from lutnas.spaces import get_space

    sp = get_space(space); rng = np.random.default_rng(0)
    arch = [sp.sample(rng) for _ in range(index + 1)][-1]
    target = get_target("x86", num_cores=threads, **host_cpu_options())
    shape = (1, 3, 224, 224)
    work = Path(f"/tmp/probe/{probe}/{space}{index}-{threads}"); work.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(sp.build(arch, 224).eval(), shape, work / "net.onnx")
    kernels = kr.tvm_kernels(onnx, shape, target, "lutnas-cpu", threads, 20, work, cache_mode)
    return kernels, LocalRunner(target, "tvm", threads), shape, work
