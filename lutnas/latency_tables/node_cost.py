"""What onnxruntime's profiler adds to every node it records, measured on this machine.

An in-network table splits a network's latency over its blocks by the node times onnxruntime's
profiler records. Each recorded node time holds a fixed cost of the profiler's own (timestamps, the
event record), while the unprofiled run pays a smaller fixed cost per node that no record holds
(the executor's step). The difference is a few microseconds per node: a large share of a small
block's time and a small share of a large one's. Spread over the blocks in proportion to their time
(one ratio per network, as before 2026-12-04), it made a table over-predict networks of many small
blocks and under-predict those of few large ones. Measured on the Xeon VM (2026-12-04,
`docs/measurements/in-network-node-cost-2026-12-04.md`): a chain of tiny 1x1 convs reads 2.1-2.3 us
per node; taking that off every node before the ratio brought the held-out error (relative sd, 30
archs) of fbnet @ 128 from 2.8% to 2.4-2.6%, of fbnet @ 160 from 2.9% to 2.4%, and proxyless and
ofa-mbv3 down by 0.1-0.3 points. A fit of the cost on the covering networks themselves was tried
first and dropped: node count and node time move together there, and the fit ranged 0-4 us.

The measurement: two chains of trivial nodes (K and 8K 1x1 convs on a 4x4 plane), each timed
unprofiled (`settled_sample_ms`, as networks are) and profiled; per extra node, the profiled node
time minus the unprofiled time is the cost. Real ONNX files, the session settings of every table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lutnas.profiler.harness import settled_sample_ms

CHAIN_NODES = (32, 256)
_CHANNELS = 8
_SAMPLES = 9
_CALLS_PER_SAMPLE = 30
_PROFILED_RUNS = 100


@dataclass(frozen=True)
class NodeCost:
    """Per node, in ms: recorded by the profiler, taken by an unprofiled run, and their difference."""

    profiled_ms: float
    plain_ms: float

    @property
    def cost_ms(self) -> float:
        """What the profiler's records overstate per node; never negative."""
        return max(self.profiled_ms - self.plain_ms, 0.0)


def write_chain(path: Path, nodes: int) -> Path:
    """An ONNX model of `nodes` chained 1x1 convs of `_CHANNELS` channels on a 4x4 plane."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = [1, _CHANNELS, 4, 4]
    weight = numpy_helper.from_array((0.9 * np.eye(_CHANNELS, dtype=np.float32)).reshape(_CHANNELS, _CHANNELS, 1, 1),
                                     "w")
    names = ["input"] + [f"t{i}" for i in range(nodes - 1)] + ["output"]
    convs = [helper.make_node("Conv", [names[i], "w"], [names[i + 1]], name=f"conv{i}") for i in range(nodes)]
    graph = helper.make_graph(convs, "chain", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _chain_times(path: Path, threads: int) -> tuple[float, float, int]:
    """(unprofiled ms per call, profiled node ms summed per run, nodes per run) of one chain."""
    from lutnas.lowering.ort import ort_session, profile_events

    plain = ort_session(path, threads)
    prof = ort_session(path, threads, profile_prefix=path.with_suffix(""))
    feeds = {"input": np.ones((1, _CHANNELS, 4, 4), np.float32)}
    for _ in range(10):
        plain.run(None, feeds)
        prof.run(None, feeds)
    plain_ms = float(np.median([settled_sample_ms(lambda: plain.run(None, feeds), _CALLS_PER_SAMPLE)
                                for _ in range(_SAMPLES)]))
    for _ in range(_PROFILED_RUNS):
        prof.run(None, feeds)
    runs = 10 + _PROFILED_RUNS
    durations = [e["dur"] for e in profile_events(prof) if e.get("cat") == "Node"]
    return plain_ms, float(np.sum(durations)) * 1e-3 / runs, round(len(durations) / runs)


def measure_node_cost(work_dir: Path, threads: int = 1) -> NodeCost:
    """The profiler's cost per node on this machine, from the two chains' difference (the session's
    per-call cost cancels). The caller holds the machine's timing lock."""
    work_dir.mkdir(parents=True, exist_ok=True)
    short, long = (_chain_times(write_chain(work_dir / f"node_chain_{n}.onnx", n), threads) for n in CHAIN_NODES)
    extra = long[2] - short[2]
    if extra <= 0:   # onnxruntime folded the chain: no per-node figure to take
        return NodeCost(0.0, 0.0)
    return NodeCost((long[1] - short[1]) / extra, (long[0] - short[0]) / extra)
