"""Each kernel against this core's limit: TVM's fused kernels and onnxruntime's nodes of one network.

For one sampled network (`--space`, `--seed`, `--resolution`) compiled with `--pipeline` (lutnas-cpu:
channels-last + lutnas's rules), every fused TVM kernel is timed alone, hot (the profiler's
`time_kernel`, as kernel tables time them, from the kernel library `lowering.kernels` exports), and
the same ONNX file runs in onnxruntime with its per-node profiler on (`ort_session`, which also saves
the optimized graph the profiler's node names refer to), each node brought to the speed of an
unprofiled run: the profiler's fixed record cost per node (`latency_tables.node_cost`) taken off, then
scaled so that the nodes sum to the plain network's time (runs taking turns; the profiler's whole
slowdown was x1.14-1.22 for fbnet at 224 px, part of it between the nodes; both printed per round,
`unprofiled_nodes`). Both are put on one scale:

- work: FLOPs of a TVM kernel are TVM's own count (`KernelInfo.flops`, `estimate_tir_flops`: 2 per
  multiply-add plus one per epilogue operation per output element); an onnxruntime node's are
  computed from its shapes the same way (`ort_node_work`: 2 per MAC of a convolution or GEMM, plus
  bias, fused residual add and fused activation at TVM's operation count). Bytes are the compulsory
  traffic: every input, weight and output once (`KernelInfo.nbytes`; the node's tensor shapes).
- kind: conv1x1, convKxK (dense), depthwiseKxK, gconvKxK (grouped), dense (GEMM/GEMV, a 1x1 conv
  on a 1x1 image included), pool (pooling and reductions), elementwise, layout (transposes,
  reorders, reshapes, concatenation), other. A TVM kernel's convolution geometry is read from its
  loop nest (`conv_geometry`), an onnxruntime node's from its weight shape.
- limits (`machine_limits`): the per-core peak from the ISA (f32 lanes x FMA pipes x 2 x clock;
  lanes from LLVM's features of this CPU, pipes from `FMA_PIPES` by LLVM's CPU name, clock from
  cpufreq or /proc/cpuinfo) and measured by a TVM-compiled probe of independent vector-FMA chains
  held in registers (the fastest of its calls; `% of peak` uses it), beside numpy's single-thread
  SGEMM (what a tuned BLAS reaches). Bandwidth is measured by a TVM-compiled streaming kernel
  (c = 0.5 c + a) with a working set of half of each cache level (sizes from sysfs) and one of
  several times the last level (memory).
- roofline: a kernel whose intensity (FLOP/byte) is below the ridge point (peak / bandwidth of the
  level its working set fits in, a hot kernel's data stays there) is memory-bound, and its GB/s
  is reported against that bandwidth; otherwise its GFLOP/s against the peak.

With `--cache-mode in-model` each TVM kernel is timed inside the network's own run instead (the
profiler's in-model timing: every timed call preceded by the rest of the network, on the network's
buffers), the state onnxruntime's profiled nodes run in: kernel against node, both in their network.
The network is also timed whole around each sweep (`network_timer`) and its time over the kernels'
sum is printed (x1.003-1.045 on fbnet#1: the VM's dispatch and what the replay leaves out).

Times are per call and summarized alike: a TVM kernel's over `--samples` single calls after warm-up,
an onnxruntime node's over `--samples` profiled runs after 5 warm-up runs, in each of `--rounds`
passes (the runtimes take turns going first; the median over passes is reported), each the interquartile
mean (onnxruntime's profiler records whole microseconds, and on a shared machine one preempted call
would drag a plain mean; groups of calls, as tables time them, would carry the preemption into TVM's
side only). Peak and bandwidth are the fastest probe calls, so on a loaded machine every % is
pessimistic. The roofline floor (every TVM kernel at the peak or at its level's bandwidth, summed: the
lowest TVM/onnxruntime ratio without less work) is computed per round with the FMA probe timed in
that round too (its median call): the VM's speed moves by up to 2x between phases (2026-12-06: 1x1
convs at 45% of a peak caught in a quiet moment, 87% the evening before), so a floor from a peak of
another moment is not a ratio of one time. The summary
per kind gives, for each runtime, the share of its kernels' summed time, the median over calls of
% of peak (and of bandwidth for memory-bound calls) and the kind's aggregate (sum of FLOPs / sum of
time). Kernels timed alone run hotter than inside a network; compare whole networks with
artifact_vs_ort.py.

    .venv/bin/python bench/kernel_roofline.py --space proxyless [--resolution 224] [--seed 0]
        [--threads 1] [--samples 30] [--rounds 3] [--cache-mode hot|in-model] [--top 25] [--out roofline.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # numpy's GEMM probe: one core

import numpy as np

KIND_ORDER = ("conv1x1", "conv", "gconv", "depthwise", "dense", "pool", "elementwise", "layout", "other")
# FMA instructions issued per cycle at the ISA's full vector width (`vector_lanes`), by LLVM CPU name.
# Zen 1 splits 256-bit FMAs in two, Zen 4 splits 512-bit ones; the Xeon entries are the two-FMA SKUs.
FMA_PIPES = {
    "znver1": 1, "znver2": 2, "znver3": 2, "znver4": 1, "znver5": 2,
    "haswell": 2, "broadwell": 2, "skylake": 2, "alderlake": 2, "raptorlake": 2, "meteorlake": 2,
    "skylake-avx512": 2, "cascadelake": 2, "cooperlake": 2, "icelake-server": 2, "sapphirerapids": 2,
    "emeraldrapids": 2, "graniterapids": 2, "icelake-client": 1, "tigerlake": 1, "rocketlake": 1,
}
DEFAULT_FMA_PIPES = 2
PROBE_CALLS = 31           # single calls per probe; the fastest counts
PROBE_CHAINS = 12          # independent accumulators: > FMA latency x pipes on every CPU above
# per-element operations of an activation or elementwise op, as TVM's estimate counts its legalized form
ELEMENTWISE_OPS = {"Relu": 1, "Clip": 2, "LeakyRelu": 2, "HardSigmoid": 4, "HardSwish": 5, "Sigmoid": 1,
                   "Tanh": 1, "Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Max": 1, "Min": 1, "Sum": 1}
POOL_OPS = ("GlobalAveragePool", "GlobalMaxPool", "MaxPool", "AveragePool", "ReduceMean", "ReduceMax")
LAYOUT_OPS = ("ReorderInput", "ReorderOutput", "Transpose", "Reshape", "Flatten", "Concat", "Squeeze",
              "Unsqueeze", "Identity", "Split", "Slice", "Pad")
DENSE_OPS = ("Gemm", "MatMul", "FusedGemm", "FusedMatMul")
CONV_OPS = ("Conv", "FusedConv")
TVM_KIND = {"matmul": "dense", "pool": "pool", "reduce": "pool", "elementwise": "elementwise",
            "layout": "layout", "concat": "layout"}
DTYPE_BYTES = {"float": 4, "float16": 2, "double": 8, "int64": 8, "int32": 4, "int8": 1, "uint8": 1, "bool": 1}


# -- work of one kernel or node, and the machine's limits ---------------------------------------------
@dataclass(frozen=True)
class Work:
    """One TVM kernel (per call, `calls` calls per run) or one onnxruntime node."""

    runtime: str
    name: str
    kind: str           # KIND_ORDER's base kind, a window appended for convolutions (conv3x3)
    shape: str
    calls: int
    ms: float
    flops: float
    nbytes: int

    @property
    def intensity(self) -> float:
        return self.flops / max(self.nbytes, 1)

    @property
    def gflops(self) -> float:
        return self.flops / (self.ms * 1e6)

    @property
    def gbps(self) -> float:
        return self.nbytes / (self.ms * 1e6)


@dataclass(frozen=True)
class Level:
    """A memory level and the bandwidth a streaming kernel measured in it (one core)."""

    name: str
    capacity: int       # bytes; the working set measured was half of it (memory: several LLCs)
    gbps: float


@dataclass(frozen=True)
class Limits:
    lanes: int
    fma_pipes: int
    fma_pipes_from: str
    clock_ghz: float
    clock_from: str
    threads: int
    isa_gflops: float       # lanes x pipes x 2 x clock x threads
    probe_gflops: float     # measured: register-resident FMA chains (x threads); what % of peak uses
    gemm_gflops: float      # measured: numpy SGEMM on one core (x threads)
    levels: tuple[Level, ...]

    def level_for(self, nbytes: int) -> Level:
        """The first level whose capacity holds the working set; memory otherwise."""
        return next((lv for lv in self.levels if nbytes <= lv.capacity), self.levels[-1])

    def ridge(self, nbytes: int) -> float:
        return self.probe_gflops / self.level_for(nbytes).gbps


@dataclass(frozen=True)
class Verdict:
    bound: str          # "compute" or "memory"
    level: str
    pct_peak: float
    pct_bw: float


def judge(work: Work, limits: Limits) -> Verdict:
    level = limits.level_for(work.nbytes)
    bound = "memory" if work.intensity < limits.ridge(work.nbytes) else "compute"
    return Verdict(bound, level.name, 100 * work.gflops / limits.probe_gflops, 100 * work.gbps / level.gbps)


# -- the per-core peak -----------------------------------------------------------------------------------
def cpu_clock_ghz() -> tuple[float, str]:
    """The highest clock the OS reports: cpufreq's maximum, else /proc/cpuinfo's "cpu MHz" (a VM's
    nominal clock; boost shows in the probe)."""
    cpufreq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        return int(cpufreq.read_text()) / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    try:
        text = Path("/proc/cpuinfo").read_text()
        mhz = [float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.MULTILINE)]
    except OSError:
        mhz = []
    if mhz:
        return max(mhz) / 1e3, "/proc/cpuinfo cpu MHz"
    return float("nan"), "unknown"


def fma_pipes(cpu: str) -> tuple[int, str]:
    if cpu in FMA_PIPES:
        return FMA_PIPES[cpu], f"FMA_PIPES[{cpu}]"
    return DEFAULT_FMA_PIPES, f"assumed ({cpu} not in FMA_PIPES)"


def fma_probe_func(lanes: int, chains: int, iters: int) -> Any:
    """`chains` x `lanes` accumulators, each updated acc = acc * a + b `iters` times: independent
    FMA chains that LLVM keeps in vector registers (2 * lanes * chains * iters FLOPs per call)."""
    from tvm.script import tirx as T

    @T.prim_func
    def fma_probe(a: T.Buffer((chains, lanes), "float32"), out: T.Buffer((chains, lanes), "float32")):
        acc = T.alloc_buffer((chains, lanes), "float32", scope="local")
        for c in T.unroll(chains):
            for lane in T.vectorized(lanes):
                acc[c, lane] = a[c, lane]
        for _ in range(iters):
            for c in T.unroll(chains):
                for lane in T.vectorized(lanes):
                    acc[c, lane] = acc[c, lane] * T.float32(0.999) + T.float32(0.001)
        for c in T.unroll(chains):
            for lane in T.vectorized(lanes):
                out[c, lane] = acc[c, lane]

    return fma_probe


def stream_probe_func(n: int, lanes: int, reps: int) -> Any:
    """c = 0.5 c + a over `n` floats, `reps` times: 12 n reps bytes read or written per call."""
    from tvm.script import tirx as T

    @T.prim_func
    def stream(a: T.Buffer((n,), "float32"), c: T.Buffer((n,), "float32")):
        for _ in range(reps):
            for i in range(n // lanes):
                for lane in T.vectorized(lanes):
                    c[i * lanes + lane] = c[i * lanes + lane] * T.float32(0.5) + a[i * lanes + lane]

    return stream


def probe_call_seconds(func: Any, name: str, target: Any, shapes: list[tuple[int, ...]]) -> Callable[[], list[float]]:
    """Compile a probe once; the returned function times `PROBE_CALLS` single calls of it (seconds)."""
    import tvm

    lib = tvm.compile(tvm.IRModule({name: func.with_attr("global_symbol", name)}), target=target).mod
    dev = tvm.cpu()
    args = [tvm.runtime.tensor(np.full(s, 0.5, dtype="float32"), dev) for s in shapes]
    lib.time_evaluator(name, dev, number=1, repeat=3)(*args)
    timer = lib.time_evaluator(name, dev, number=1, repeat=PROBE_CALLS, min_repeat_ms=0)
    return lambda: list(timer(*args).results)


def best_rate(func: Any, name: str, target: Any, shapes: list[tuple[int, ...]], work: float) -> float:
    """Work per second (in 1e9) of the fastest of many single calls of a compiled probe: on a shared
    core some calls run undisturbed, and the fastest is what the core can do."""
    return work / min(probe_call_seconds(func, name, target, shapes)()) / 1e9


def fma_probe(target: Any, lanes: int, iters: int = 20000) -> tuple[Callable[[], list[float]], float]:
    """The compiled FMA-chain probe and the FLOPs of one call."""
    func = fma_probe_func(lanes, PROBE_CHAINS, iters)
    return probe_call_seconds(func, "fma_probe", target, [(PROBE_CHAINS, lanes)] * 2), 2.0 * lanes * PROBE_CHAINS * iters


def gemm_probe(n: int = 1024) -> float:
    """GFLOP/s of numpy's SGEMM (its BLAS, OPENBLAS_NUM_THREADS=1), the best of 5."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    a @ b
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def cache_levels() -> list[tuple[str, int]]:
    """(name, bytes) of cpu0's data and unified caches from sysfs, innermost first."""
    out = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified"):
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1], 1)
            out.append((f"L{level}", int(size.rstrip("KMG")) * scale))
    return sorted(out, key=lambda lv: lv[1])


def bandwidth_levels(target: Any, lanes: int) -> tuple[Level, ...]:
    """Streaming bandwidth with a working set of half of each cache and one far beyond the last."""
    caches = cache_levels() or [("L2", 1 << 20)]
    sizes = [(name, cap, cap // 2) for name, cap in caches]
    sizes.append(("memory", 1 << 62, max(8 * caches[-1][1], 256 << 20)))
    out = []
    for name, capacity, footprint in sizes:
        n = max(lanes, footprint // 8 // lanes * lanes)
        reps = max(1, (64 << 20) // (12 * n))
        rate = best_rate(stream_probe_func(n, lanes, reps), "stream", target, [(n,), (n,)], 12.0 * n * reps)
        out.append(Level(name, capacity, rate))
    return tuple(out)


def machine_limits(target: Any, threads: int) -> Limits:
    """The per-core peak from the ISA and measured, and the measured bandwidth of each level."""
    import tvm

    from lutnas.lowering.rules.base import vector_lanes

    lanes = vector_lanes(target)
    cpu = str(tvm.target.codegen.llvm_get_system_cpu())
    pipes, pipes_from = fma_pipes(cpu)
    clock, clock_from = cpu_clock_ghz()
    calls, flops = fma_probe(target, lanes)
    probe = flops / min(calls()) / 1e9
    return Limits(lanes, pipes, pipes_from, clock, clock_from, threads, lanes * pipes * 2 * clock * threads,
                  probe * threads, gemm_probe() * threads, bandwidth_levels(target, lanes))


# -- TVM kernels: kind from the loop nest -----------------------------------------------------------------
@dataclass(frozen=True)
class ConvGeometry:
    """What a convolution's reduction block says: window, reduced channels, groups, output pixels."""

    window: tuple[int, ...]     # kernel extents along the image axes (empty for 1x1)
    channels: int               # input channels reduced per output (Cin / groups)
    grouped: bool               # the input channel read depends on the output channel
    pixels: int                 # output elements per output channel

    def kind(self) -> str:
        k = "x".join(map(str, self.window or (1, 1)))
        if self.pixels == 1 and math.prod(self.window) == 1:
            return "dense"
        if self.grouped:
            return f"depthwise{k}" if self.channels == 1 else f"gconv{k}"
        return f"conv{k}"


def conv_geometry(func: Any) -> ConvGeometry | None:
    """Read from the reduction block with the largest domain: the weight read is the one indexed by
    a single spatial iterator (the output channel); reduction iterators that share an index of the
    data read with another spatial iterator (oh * s + ry) span the window; the rest are channels."""
    block = _anchor_block(func)
    if block is None:
        return None
    # iterators of extent 1 say nothing (a prepacked 1x1 keeps its window as two of them)
    spatial, reduce_ = _iterators(block, 0), _iterators(block, 2)
    out = block.writes[0].source      # TVM 0.27: a TensorRegion names its buffer by `source`
    reads = [[_vars(r.min) for r in region.region] for region in block.reads if not region.source.same_as(out)]
    weights = [idx for idx in reads if len(_spatial_in(idx, spatial)) == 1 and any(_in(v, reduce_) for i in idx
                                                                                      for v in i)]
    if not weights:
        return None
    oc = _spatial_in(weights[0], spatial)[0]
    data = max((idx for idx in reads if idx is not weights[0]), key=lambda i: len(_spatial_in(i, spatial)),
               default=None)
    if data is None:
        return None
    window, window_vars = [], []
    for index in data:
        red = [v for v in index if _in(v, reduce_)]
        if red and any(_in(v, spatial) and not v.same_as(oc) for v in index):
            window.append(math.prod(_extent(v, reduce_) for v in red))
            window_vars.extend(red)
    channels = math.prod(e for v, e in reduce_.items() if not any(v.same_as(w) for w in window_vars))
    grouped = any(v.same_as(oc) for index in data for v in index)
    pixels = math.prod(e for v, e in spatial.items() if not v.same_as(oc))
    return ConvGeometry(tuple(window) if math.prod(window) > 1 else (), channels, grouped, pixels)


def _iterators(block: Any, iter_type: int) -> dict[Any, int]:
    """Block iterators of one kind (0 spatial, 2 reduction) with their extents, those of extent 1 left out."""
    return {iv.var: int(iv.dom.extent) for iv in block.iter_vars
            if int(iv.iter_type) == iter_type and int(iv.dom.extent) > 1}


def _anchor_block(func: Any) -> Any | None:
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    best, best_size = None, 0
    stack = list(sch.get_child_blocks(sch.get_sblock("root")))
    while stack:
        block = sch.get(stack[-1])
        stack.extend(sch.get_child_blocks(stack.pop()))
        if any(int(iv.iter_type) == 2 for iv in block.iter_vars):
            size = math.prod(int(iv.dom.extent) for iv in block.iter_vars)
            if size > best_size:
                best, best_size = block, size
    return best


def _vars(expr: Any) -> list[Any]:
    from tvm.tirx.analysis import undefined_vars

    return list(undefined_vars(expr))


def _in(var: Any, table: dict[Any, int]) -> bool:
    return any(var.same_as(k) for k in table)


def _extent(var: Any, table: dict[Any, int]) -> int:
    return next(e for k, e in table.items() if var.same_as(k))


def _spatial_in(index: list[list[Any]], spatial: dict[Any, int]) -> list[Any]:
    found: list[Any] = []
    for part in index:
        found.extend(v for v in part if _in(v, spatial) and not any(v.same_as(f) for f in found))
    return found


def tvm_kind(info: Any, func: Any) -> str:
    """A TVM kernel's roofline kind: `conv_geometry`'s for a convolution, else from `KernelInfo.kind`."""
    if info.kind == "conv":
        geometry = conv_geometry(func)
        return geometry.kind() if geometry is not None else "conv"
    return TVM_KIND.get(info.kind, "other")


# -- onnxruntime nodes: kind and work from shapes -----------------------------------------------------------
@dataclass(frozen=True)
class OrtNode:
    """One node of onnxruntime's optimized graph as its profiler reports it."""

    name: str
    op: str
    inputs: tuple[tuple[str, tuple[int, ...]], ...]     # (element type, shape) per input
    outputs: tuple[tuple[str, tuple[int, ...]], ...]
    attrs: dict[str, Any]


def _tensor_bytes(tensors: tuple[tuple[str, tuple[int, ...]], ...]) -> int:
    return sum(DTYPE_BYTES.get(t, 4) * math.prod(s) for t, s in tensors)


def ort_node_work(node: OrtNode) -> tuple[str, float, int, str]:
    """(kind, FLOPs, bytes, shape text) of one node, counted as TVM counts its kernels."""
    shapes = [s for _, s in node.inputs]
    out = node.outputs[0][1] if node.outputs else ()
    out_elems = math.prod(out)
    nbytes = _tensor_bytes(node.inputs) + _tensor_bytes(node.outputs)
    text = f"{'x'.join(map(str, shapes[0])) if shapes else '?'}->{'x'.join(map(str, out))}"
    if node.op in CONV_OPS and len(shapes) >= 2 and len(shapes[1]) == 4:
        weight = shapes[1]
        cout, per_group, window = weight[0], weight[1], tuple(weight[2:])
        geometry = ConvGeometry(window if math.prod(window) > 1 else (), per_group,
                                shapes[0][1] != per_group, out_elems // max(cout, 1))
        epilogue = (len(shapes) >= 3) + (len(shapes) >= 4) + ELEMENTWISE_OPS.get(node.attrs.get("activation", ""), 0)
        return geometry.kind(), 2.0 * out_elems * math.prod(weight[1:]) + epilogue * out_elems, nbytes, text
    if node.op in DENSE_OPS:
        k, n = shapes[0][-1], out[-1] if out else 0
        has_weight = len(shapes) >= 2 and len(shapes[1]) == 2
        nbytes += 0 if has_weight else 4 * k * n          # a prepacked weight is no input of the node
        bias = len(shapes) >= 3 or (len(shapes) == 2 and not has_weight)
        return "dense", 2.0 * out_elems * k + bias * out_elems, nbytes, text
    if node.op in POOL_OPS:
        window = math.prod(node.attrs.get("kernel_shape", ())) if "kernel_shape" in node.attrs else None
        work = out_elems * window if window else math.prod(shapes[0]) + out_elems
        return "pool", float(work), nbytes, text
    if node.op in LAYOUT_OPS:
        return "layout", 0.0, nbytes, text
    return "elementwise", float(out_elems * ELEMENTWISE_OPS.get(node.op, 1)), nbytes, text


def parse_ort_profile(events: list[dict[str, Any]], attrs: dict[str, dict[str, Any]], skip: int
                      ) -> list[tuple[OrtNode, list[float]]]:
    """Per node of the trace, in first-run order: the node and its durations (ms) after `skip` runs."""
    durations: dict[str, list[float]] = defaultdict(list)
    nodes: dict[str, OrtNode] = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        name = e["name"].removesuffix("_kernel_time")
        if name not in nodes:
            args = e.get("args", {})
            nodes[name] = OrtNode(name, str(args.get("op_name", "?")), _typed(args.get("input_type_shape", [])),
                                  _typed(args.get("output_type_shape", [])), attrs.get(name, {}))
        durations[name].append(float(e["dur"]) * 1e-3)
    return [(nodes[n], d[skip:]) for n, d in durations.items() if len(d) > skip]


def _typed(tensors: list[dict[str, list[int]]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The profiler's [{"float": [1, 3, 224, 224]}, ...] as ((element type, shape), ...)."""
    return tuple((dtype, tuple(int(d) for d in dims)) for t in tensors for dtype, dims in t.items())


def interquartile_mean(values: list[float]) -> float:
    v = np.sort(np.asarray(values, dtype=np.float64))
    lo, hi = len(v) // 4, len(v) - len(v) // 4
    return float(v[lo:hi].mean()) if hi > lo else float(v.mean())


def graph_attributes(model_path: Path) -> dict[str, dict[str, Any]]:
    """Node name -> attributes (bytes decoded) of an ONNX graph."""
    import onnx

    out = {}
    for node in onnx.load(str(model_path)).graph.node:
        attrs = {}
        for a in node.attribute:
            value = onnx.helper.get_attribute_value(a)
            attrs[a.name] = value.decode() if isinstance(value, bytes) else value
        out[node.name] = attrs
    return out


@dataclass(frozen=True)
class OrtProfile:
    """onnxruntime's nodes of one profiled pass, at the speed of an unprofiled run (`unprofiled_nodes`)."""

    works: list[Work]
    inflation: float        # the profiled network's time over the plain network's
    node_cost_ms: float     # what the profiler's record adds to every node (`node_cost`), taken off first
    residual: float         # the nodes' sum, each less its record cost, over the plain network; they are divided by it


def unprofiled_nodes(node_ms: list[float], node_cost_ms: float, plain_ms: float) -> tuple[list[float], float]:
    """Each profiled node's time at the plain network's speed, and the residual inflation: the
    profiler's fixed record cost comes off every node (not below a tenth of its time), then the
    nodes are scaled so that they sum to the plain network's time, in proportion to their time.

    Why not to the profiled network's time: the profiler also spends ~4 us between two nodes,
    outside every node's recorded duration (2026-12-07, `ort-kernels-hot-2026-12-07.md`: fbnet#1,
    fbnet#2 and proxyless#0 at 224 px, 1 thread, 3.9-4.9 us a node between the first node's start
    and the last one's end; 1x1-conv chains: the large nodes' durations less the record sum to the
    plain network within 1-5%). Dividing the nodes by the profiled network's slowdown counted those
    gaps twice and put onnxruntime's nodes 7-10% faster than its network runs."""
    less = [max(ms - node_cost_ms, 0.1 * ms) for ms in node_ms]
    residual = max(sum(less) / plain_ms, 1e-9)
    return [ms / residual for ms in less], residual


def ort_works(onnx_path: Path, threads: int, runs: int, warmup: int, work_dir: Path,
              node_cost_ms: float = 0.0) -> OrtProfile:
    """Profile `runs` onnxruntime runs of the network (after `warmup`), one Work per node, the network
    timed without the profiler in between (runs of the two sessions taking turns), every node brought
    to the plain run's speed by `unprofiled_nodes`. Why: with the profiler on, fbnet#1's and fbnet#2's
    networks ran x1.14 and x1.22 their plain time at 224 px, their nodes' recorded durations summed to
    x1.07 and x1.10 of it (2026-12-07, `ort-kernels-hot-2026-12-07.md`), so raw nodes put onnxruntime
    slower than it runs. The inflation and the residual are reported so a reader can undo them."""
    from lutnas.lowering.ort import ort_session, profile_events
    from lutnas.profiler.timing_lock import LOCAL, timing_lock

    optimized = work_dir / "ort_optimized.onnx"
    session = ort_session(onnx_path, threads, profile_prefix=work_dir / "ortprof", optimized_path=optimized)
    plain = ort_session(onnx_path, threads)
    feed = session.get_inputs()[0]
    x = {feed.name: np.random.default_rng(0).standard_normal([int(d) for d in feed.shape]).astype(np.float32)}
    profiled, unprofiled = [], []
    with timing_lock(LOCAL):
        for i in range(warmup + runs):
            for runs_of, sess in ((profiled, session), (unprofiled, plain)):
                start = time.perf_counter()
                sess.run(None, x)
                if i >= warmup:
                    runs_of.append(time.perf_counter() - start)
    nodes = parse_ort_profile(profile_events(session), graph_attributes(optimized), warmup)
    raw = [interquartile_mean(ms) for _, ms in nodes]
    profiled_ms, plain_ms = float(np.median(profiled)) * 1e3, float(np.median(unprofiled)) * 1e3
    scaled, residual = unprofiled_nodes(raw, node_cost_ms, plain_ms)
    out = []
    for (node, _), ms in zip(nodes, scaled):
        kind, flops, nbytes, text = ort_node_work(node)
        out.append(Work("onnxruntime", node.name, kind, f"{node.op} {text}", 1, ms, flops, nbytes))
    return OrtProfile(out, profiled_ms / plain_ms, node_cost_ms, residual)


# -- TVM kernels: compile and time ------------------------------------------------------------------------
@dataclass(frozen=True)
class TvmKernel:
    """One fused kernel of the compiled network, ready to time: its job and what the report says of it."""

    job: Any            # profiler.kernel_timing.KernelJob
    name: str
    kind: str
    shape: str
    calls: int
    flops: float
    nbytes: int


def tvm_kernels(onnx_path: Path, shape: tuple[int, ...], target: Any, pipeline: str, threads: int, samples: int,
                work_dir: Path, cache_mode: str = "hot") -> list[TvmKernel]:
    """Compile the network once and export its library and its kernel library beside it; one timing
    job per fused kernel (`samples` single calls after warm-up, hot or inside the network's run, as
    kernel tables time them)."""
    import tvm

    from lutnas.lowering.kernels import export_with_kernels, kernel_library_path
    from lutnas.lowering.tvm_build import import_model, lower_relax
    from lutnas.profiler.kernel_timing import KernelJob
    from lutnas.profiler.measurement import MeasureJob

    model_library = work_dir / "net.so"
    mod, input_name = import_model(onnx_path, shape)
    lowered = lower_relax(mod, target, pipeline)
    kernels = export_with_kernels(lowered, input_name, shape, target, model_library, pipeline)
    funcs = {gv.name_hint: f for gv, f in lowered.functions_items() if isinstance(f, tvm.tirx.PrimFunc)}
    model = MeasureJob("net", shape, library_path=model_library, target=target.name, threads=threads,
                       repeats=samples, min_repeat_ms=0.0)
    out = []
    for info, calls in zip(kernels.kernels, kernels.calls):
        job = KernelJob(info.signature, kernel_library_path(model_library), info.name, [p.shape for p in info.params],
                        [p.dtype for p in info.params], cache_mode=cache_mode, target=target.name, threads=threads,
                        repeats=samples, min_repeat_ms=0.0, model=model)
        text = f"{info.params[0].text()}->{info.params[-1].text()}" if info.params else "?"
        out.append(TvmKernel(job, info.name, tvm_kind(info, funcs[info.name]), text, calls, info.flops, info.nbytes))
    return out


def time_tvm(kernels: list[TvmKernel], runner: Any, label: str) -> list[Work]:
    """Every kernel timed alone once (its samples summarized as onnxruntime's nodes are,
    `interquartile_mean`)."""
    from lutnas.progress import ProgressBar

    out = []
    with ProgressBar(label, len(kernels), enabled=sys.stderr.isatty(), stderr=True) as bar:
        for k in kernels:
            ms = interquartile_mean(list(runner.measure_kernel(k.job).samples_ms))
            out.append(Work("tvm", k.name, k.kind, k.shape, k.calls, ms, k.flops, k.nbytes))
            bar.advance()
    return out


def median_over_rounds(rounds: list[list[Work]]) -> list[Work]:
    """Each kernel or node (by name, in the first round's order) with its median time over the rounds
    that have it."""
    times: dict[str, list[float]] = defaultdict(list)
    for works in rounds:
        for w in works:
            times[w.name].append(w.ms)
    return [replace(w, ms=float(np.median(times[w.name]))) for w in rounds[0]]


def summed_ms(works: list[Work]) -> float:
    """A network's time as the sum of its kernels' (or nodes') per-call times x calls."""
    return sum(w.ms * w.calls for w in works)


def roofline_ms(work: Work, limits: Limits, peak_gflops: float | None = None) -> float:
    """The per-call time of `work` at its roofline: its FLOPs at the peak (`peak_gflops`, else the
    limits' probe), or its bytes at the bandwidth of the level its working set fits, whichever takes
    longer."""
    peak = peak_gflops or limits.probe_gflops
    return max(work.flops / (peak * 1e6), work.nbytes / (limits.level_for(work.nbytes).gbps * 1e6))


def roofline_floor_ms(works: list[Work], limits: Limits, peak_gflops: float | None = None) -> float:
    """A network at its roofline: every kernel at `roofline_ms`, summed over calls. Divided by
    onnxruntime's summed nodes it is the lowest TVM/onnxruntime ratio these kernels could reach
    without doing less work (hot caches assumed, so in a network the floor is, if anything, higher)."""
    return sum(roofline_ms(w, limits, peak_gflops) * w.calls for w in works)


# -- report ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KindSummary:
    runtime: str
    kind: str
    calls: int
    time_share: float       # % of the runtime's summed kernel time
    median_pct_peak: float  # over calls
    aggregate_pct_peak: float
    memory_bound: int       # calls below the ridge
    median_pct_bw: float | None   # over memory-bound calls (None if none)


def kind_order(kind: str) -> tuple[int, str]:
    """Sort key: KIND_ORDER's base kind, then the window (depthwise3x3 before depthwise5x5)."""
    base = re.sub(r"\d+x\d+$", "", kind)
    return (KIND_ORDER.index(base) if base in KIND_ORDER else len(KIND_ORDER), kind)


def summarize(works: list[Work], limits: Limits) -> list[KindSummary]:
    """Per runtime and kind (windows apart), time share and distance from the limits."""
    out = []
    for runtime in ("tvm", "onnxruntime"):
        mine = [w for w in works if w.runtime == runtime]
        total = summed_ms(mine) or 1.0
        for kind in sorted({w.kind for w in mine}, key=kind_order):
            group = [w for w in mine if w.kind == kind]
            verdicts = [(w, judge(w, limits)) for w in group]
            peak = np.repeat([v.pct_peak for _, v in verdicts], [w.calls for w, _ in verdicts])
            mem = [(w, v) for w, v in verdicts if v.bound == "memory"]
            bw = np.repeat([v.pct_bw for _, v in mem], [w.calls for w, _ in mem])
            ms = summed_ms(group)
            agg = 100 * sum(w.flops * w.calls for w in group) / (ms * 1e6) / limits.probe_gflops
            out.append(KindSummary(runtime, kind, int(sum(w.calls for w in group)), 100 * ms / total,
                                   float(np.median(peak)), agg, int(sum(w.calls for w, _ in mem)),
                                   float(np.median(bw)) if mem else None))
    return out


def print_limits(limits: Limits) -> None:
    t = f" x {limits.threads} threads" if limits.threads > 1 else ""
    print(f"peak (ISA): {limits.lanes} f32 lanes x {limits.fma_pipes} FMA pipes [{limits.fma_pipes_from}] x 2 x "
          f"{limits.clock_ghz:.3f} GHz [{limits.clock_from}]{t} = {limits.isa_gflops:.1f} GFLOP/s")
    implied = limits.probe_gflops / (limits.lanes * limits.fma_pipes * 2 * limits.threads)
    print(f"peak (measured, TVM FMA-chain probe, fastest of {PROBE_CALLS} calls): {limits.probe_gflops:.1f} GFLOP/s "
          f"(= {implied:.2f} GHz at that ISA width and pipe count); numpy SGEMM 1024^3: "
          f"{limits.gemm_gflops:.1f} GFLOP/s; % of peak below uses the probe{t} (measured on one core)")
    print("bandwidth (TVM streaming probe c = 0.5c + a, one core): " + ", ".join(
        f"{lv.name} {lv.gbps:.1f} GB/s (ridge {limits.probe_gflops / lv.gbps:.2f} FLOP/B)" for lv in limits.levels))


def print_works(works: list[Work], limits: Limits, top: int) -> None:
    total = summed_ms(works)
    rows = sorted(works, key=lambda w: -w.ms * w.calls)
    print(f"\n{works[0].runtime}: {len(works)} kernels, {sum(w.calls for w in works)} calls, "
          f"sum {total:.3f} ms (top {min(top, len(rows))} by time)")
    print(f"{'kind':14s} {'shape':34s} {'calls':>5s} {'us/call':>8s} {'share':>6s} {'MFLOP':>8s} {'KB':>7s} "
          f"{'FLOP/B':>7s} {'GFLOP/s':>8s} {'%peak':>6s} {'bound':>6s} {'GB/s':>6s} {'%bw':>5s}")
    for w in rows[:top]:
        v = judge(w, limits)
        bw = f"{w.gbps:6.1f} {v.pct_bw:5.0f}" if v.bound == "memory" else f"{'':6s} {'':5s}"
        print(f"{w.kind:14s} {w.shape[:34]:34s} {w.calls:5d} {w.ms * 1e3:8.1f} {100 * w.ms * w.calls / total:5.1f}% "
              f"{w.flops / 1e6:8.2f} {w.nbytes / 1024:7.0f} {w.intensity:7.2f} {w.gflops:8.2f} {v.pct_peak:5.1f}% "
              f"{'mem:' + v.level if v.bound == 'memory' else 'comp':>6s} {bw}")


def print_summary(summary: list[KindSummary]) -> None:
    print("\nper kind (medians over calls; agg = sum FLOPs / sum time; %bw over memory-bound calls):")
    by_kind = {(s.runtime, s.kind): s for s in summary}
    for kind in sorted({s.kind for s in summary}, key=kind_order):
        parts = []
        for runtime, label in (("tvm", "TVM"), ("onnxruntime", "ORT")):
            s = by_kind.get((runtime, kind))
            if s is None:
                parts.append(f"{label} -")
                continue
            bw = (f", mem-bound {s.memory_bound}/{s.calls} at median {s.median_pct_bw:.0f}% of bw"
                  if s.memory_bound else "")
            parts.append(f"{label} {s.calls} calls, {s.time_share:.1f}% of time, median {s.median_pct_peak:.1f}% "
                         f"of peak (agg {s.aggregate_pct_peak:.1f}%){bw}")
        print(f"  {kind:14s} " + " | ".join(parts))


# -- main -----------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="proxyless")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0, help="seed of the sampled architecture")
    ap.add_argument("--index", type=int, default=0,
                    help="which arch of the seed's samples (artifact_vs_ort.py's '#index' of the same seed)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pipeline", default="lutnas-cpu")
    ap.add_argument("--samples", type=int, default=30,
                    help="single calls timed per TVM kernel, and profiled onnxruntime runs (after warm-up)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="passes of each runtime, taking turns; each kernel's and node's median is reported")
    ap.add_argument("--cache-mode", choices=("hot", "in-model"), default="hot",
                    help="TVM kernels timed alone and hot, or inside the network's own run (the profiler's "
                         "in-model timing: each call after the rest of the network, on the network's buffers), "
                         "as onnxruntime's nodes are")
    ap.add_argument("--top", type=int, default=25, help="kernels listed per runtime (0: none)")
    ap.add_argument("--out", type=Path, default=None, help="write every kernel, node and summary as JSON")
    args = ap.parse_args(argv)
    for name in ("resolution", "threads", "samples", "rounds"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if args.top < 0:
        ap.error(f"--top must be >= 0, not {args.top}")
    return args


def print_network_floor(tvm_rows: list[Work], ort_rows: list[Work], limits: Limits, goal: float = 0.80) -> None:
    """The whole network on the peak's scale: what each runtime's summed kernels reach, and what a
    TVM/onnxruntime ratio of `goal` (issue 13) would ask of every kernel on average, beside the
    single-core SGEMM of a tuned BLAS on large matrices (numpy's), the best a CPU GEMM usually does."""
    flops = sum(w.flops * w.calls for w in ort_rows)
    ms = {name: summed_ms(rows) for name, rows in (("TVM", tvm_rows), ("onnxruntime", ort_rows))}
    pct = {name: 100 * flops / (t * 1e6) / limits.probe_gflops for name, t in ms.items()}
    need = 100 * flops / (goal * ms["onnxruntime"] * 1e6) / limits.probe_gflops
    blas = 100 * limits.gemm_gflops / limits.probe_gflops
    print(f"network: {flops / 1e6:.0f} MFLOP; summed kernels TVM {ms['TVM']:.3f} ms ({pct['TVM']:.0f}% of peak), "
          f"onnxruntime {ms['onnxruntime']:.3f} ms ({pct['onnxruntime']:.0f}%); TVM/onnxruntime {goal:.2f} would need "
          f"{need:.0f}% of peak over the whole network (numpy's single-core SGEMM: {blas:.0f}%)")


@dataclass(frozen=True)
class RoundsResult:
    tvm: list[Work]             # each kernel's median over rounds
    onnxruntime: list[Work]     # each node's median over rounds
    ratios: list[float]         # per round: summed TVM kernels / summed onnxruntime nodes
    floors: list[float]         # per round: roofline floor / summed onnxruntime nodes
    to_network: list[float]     # per round: TVM's network / its summed in-model kernels (empty: hot)


def timed_in_rounds(args: argparse.Namespace, onnx_path: Path, shape: tuple[int, ...], target: Any,
                    work_dir: Path, limits: Limits) -> RoundsResult:
    """TVM's kernels and onnxruntime's nodes, each timed once per round, the two runtimes taking turns
    to go first; every kernel and node keeps its median over the rounds, and each round's ratio of
    the summed times is printed. Why: on this VM the speed moves by tens of percent over minutes,
    and one pass of each runtime (as before 2026-12-05's evening) put a slow phase on one side: the
    first kernels of one pass ran 1.5-2.5x their time of a pass a minute later."""
    from lutnas.profiler.runners import LocalRunner

    kernels = tvm_kernels(onnx_path, shape, target, args.pipeline, args.threads, args.samples, work_dir,
                          args.cache_mode)
    runner = LocalRunner(target, "tvm", args.threads)
    probe, probe_flops = fma_probe(target.tvm_target(), limits.lanes)
    network = network_timer(work_dir / "net.so", shape) if args.cache_mode == "in-model" else None
    tvm_rounds, ort_rounds, peaks, profiles, to_network = [], [], [], [], []
    node_cost_ms = profiler_node_cost(args.threads, work_dir)
    for r in range(args.rounds):
        for side in (("tvm", "ort") if r % 2 == 0 else ("ort", "tvm")):
            if side == "tvm":
                before = network() if network is not None else 0.0
                works = time_tvm(kernels, runner, f"round {r + 1}: TVM kernels")
                if network is not None:   # the network timed before and after its kernels
                    to_network.append(0.5 * (before + network()) / summed_ms(works))
                tvm_rounds.append(works)
                peaks.append(probe_flops / float(np.median(probe())) / 1e9 * limits.threads)
            else:
                profile = ort_works(onnx_path, args.threads, args.samples, 5, work_dir, node_cost_ms)
                ort_rounds.append(profile.works)
                profiles.append(profile)
    print_corrections(profiles, node_cost_ms, to_network)
    ratios = [summed_ms(t) / summed_ms(o) for t, o in zip(tvm_rounds, ort_rounds)]
    print(f"summed TVM kernels / onnxruntime nodes, per round: {' '.join(f'{v:.3f}' for v in ratios)} "
          f"(median {np.median(ratios):.3f})")
    floors = [roofline_floor_ms(t, limits, peak) / summed_ms(o) for t, o, peak in zip(tvm_rounds, ort_rounds, peaks)]
    print(f"roofline floor (every TVM kernel at the round's FMA-probe peak, {', '.join(f'{p:.0f}' for p in peaks)} "
          f"GFLOP/s, or at its level's bandwidth) / onnxruntime nodes, per round: "
          f"{' '.join(f'{v:.3f}' for v in floors)} (median {np.median(floors):.3f}): the lowest ratio without less work")
    return RoundsResult(median_over_rounds(tvm_rounds), median_over_rounds(ort_rounds), ratios, floors, to_network)


def network_timer(library: Path, shape: tuple[int, ...], calls: int = 20) -> Callable[[], float]:
    """A function timing the compiled network whole (the Relax VM's `main`, `calls` calls), in ms per call.

    Why: the profiler's replay times each kernel after the rest of the network, on its buffers, while
    onnxruntime's nodes are times inside its real run. Timed just before and just after each sweep of
    its kernels, fbnet#1's network ran x1.003 and x1.045 their sum (medians of 3 and 7 rounds, per round
    0.97-1.26; `docs/measurements/k5-block-2026-12-06.md`): the VM's dispatch, and what the replay
    leaves out. The factor is printed per round, not applied: a few calls of the network around a
    sweep of many seconds catch moments of a VM whose speed moves."""
    import tvm
    from tvm import relax

    vm = relax.VirtualMachine(tvm.runtime.load_module(str(library)), tvm.cpu())
    x = tvm.runtime.tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"), tvm.cpu())
    vm["main"](x)
    timer = vm.time_evaluator("main", tvm.cpu(), number=calls, repeat=1)
    return lambda: float(timer(x).mean) * 1e3


def print_corrections(profiles: list[OrtProfile], node_cost_ms: float, to_network: list[float]) -> None:
    """What each side's times were corrected by, per round."""
    print(f"onnxruntime's per-node profiler slowed its network x{' x'.join(f'{p.inflation:.2f}' for p in profiles)} "
          f"(per round); {node_cost_ms * 1e3:.2f} us came off every node (the profiler's record, measured on "
          f"chains of trivial nodes), then the nodes were scaled to sum to the unprofiled network: divided by "
          f"x{' x'.join(f'{p.residual:.2f}' for p in profiles)}")
    if to_network:
        print(f"TVM's network ran x{' x'.join(f'{v:.3f}' for v in to_network)} the sum of its in-model kernels "
              f"(per round, median x{np.median(to_network):.3f}; timed before and after each sweep): the in-model "
              "kernels below flatter TVM by about that much, onnxruntime's nodes being times in its real run")


def profiler_node_cost(threads: int, work_dir: Path) -> float:
    """What onnxruntime's profiler records on top of every node on this machine, in ms
    (`latency_tables.node_cost`, a few seconds)."""
    from lutnas.latency_tables.node_cost import measure_node_cost
    from lutnas.profiler.timing_lock import LOCAL, timing_lock

    with timing_lock(LOCAL):
        return measure_node_cost(work_dir / "node-cost", threads).cost_ms


def main() -> None:
    args = parse_args()
    os.environ["TVM_NUM_THREADS"] = str(args.threads)   # before TVM's thread pool exists

    from lutnas.errors import LutnasError
    from lutnas.lowering import export_onnx, get_target
    from lutnas.lowering.targets import host_cpu_options
    from lutnas.spaces import get_space

    try:
        space = get_space(args.space)
        rng = np.random.default_rng(args.seed)
        arch = [space.sample(rng) for _ in range(args.index + 1)][-1]
        target = get_target("x86", num_cores=args.threads, **host_cpu_options())
        shape = (1, 3, args.resolution, args.resolution)
        work_dir = Path(tempfile.mkdtemp(prefix="lutnas-roofline-"))
        onnx_path = export_onnx(space.build(arch, args.resolution), shape, work_dir / "net.onnx")
    except LutnasError as err:
        sys.exit(f"kernel_roofline: {err}")
    print(f"{args.space} seed {args.seed} #{args.index} arch {','.join(map(str, arch))} @{args.resolution} px, "
          f"{args.pipeline}, {args.threads} thread(s), TVM kernels {args.cache_mode}, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    limits = machine_limits(target.tvm_target(), args.threads)
    print_limits(limits)
    rounds = timed_in_rounds(args, onnx_path, shape, target, work_dir, limits)
    tvm_rows, ort_rows = rounds.tvm, rounds.onnxruntime
    if args.top:
        print_works(tvm_rows, limits, args.top)
        print_works(ort_rows, limits, args.top)
    summary = summarize(tvm_rows + ort_rows, limits)
    print_summary(summary)
    print_network_floor(tvm_rows, ort_rows, limits)
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    if args.out:
        rows = [{**asdict(w), **asdict(judge(w, limits))} for w in tvm_rows + ort_rows]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"space": args.space, "seed": args.seed, "arch": list(arch),
                                        "resolution": args.resolution, "pipeline": args.pipeline,
                                        "cache_mode": args.cache_mode,
                                        "limits": asdict(limits), "kernels": rows,
                                        "round_ratios": rounds.ratios, "round_floors": rounds.floors,
                                        "tvm_network_over_kernels": rounds.to_network,
                                        "summary": [asdict(s) for s in summary]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
