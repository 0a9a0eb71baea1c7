"""bench/kernel_roofline.py's counting, run with the script's own code and no timing assertion: kernel kinds
read from TVM's scheduled loop nests and from onnxruntime's nodes, and FLOPs on one scale (TVM's count of a
convolution kernel against the hand formula, and against onnxruntime's node of the same layer)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from helpers import bench_script

from lutnas.lowering.rules.elementwise import GEMV_PARTS

roofline = bench_script("kernel_roofline")
SHAPE = (1, 3, 32, 32)


def layers_net():
    """One layer of every convolution kind the spaces use, then pooling and a classifier."""
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU6(),           # conv3x3: 16x16x16 out
        nn.Conv2d(16, 16, 5, padding=2, groups=16), nn.ReLU(),          # depthwise5x5
        nn.Conv2d(16, 32, 1),                                           # conv1x1
        nn.Conv2d(32, 32, 3, padding=1, groups=2), nn.ReLU(),           # gconv3x3
        nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(32, 10),
    ).eval()


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    import tvm

    from lutnas.lowering import export_onnx, get_target
    from lutnas.lowering.kernels import enumerate_kernels
    from lutnas.lowering.targets import host_cpu_options
    from lutnas.lowering.tvm_build import import_model, lower_relax

    work = tmp_path_factory.mktemp("roofline")
    path = export_onnx(layers_net(), SHAPE, work / "layers.onnx")
    target = get_target("x86", **host_cpu_options())
    lowered = lower_relax(import_model(path, SHAPE)[0], target, "lutnas-cpu")
    funcs = {gv.name_hint: f for gv, f in lowered.functions_items() if isinstance(f, tvm.tirx.PrimFunc)}
    kernels = enumerate_kernels(lowered, SHAPE, "lutnas-cpu")
    return path, work, kernels, funcs


def test_kinds_are_read_from_the_scheduled_loop_nests(network):
    _, _, kernels, funcs = network
    kinds = Counter(roofline.tvm_kind(k, funcs[k.name]) for k in kernels.kernels)
    assert {"conv3x3", "depthwise5x5", "conv1x1", "gconv3x3", "dense", "pool"} <= set(kinds), kinds


def test_tvm_counts_a_convolution_as_two_flops_per_mac_plus_its_epilogue(network):
    _, _, kernels, funcs = network
    by_kind = {roofline.tvm_kind(k, funcs[k.name]): k for k in kernels.kernels}
    out = 16 * 16 * 16
    assert by_kind["conv3x3"].flops == 2 * out * 3 * 9 + out * (1 + 2)        # bias, ReLU6 = max + min
    assert by_kind["depthwise5x5"].flops == 2 * out * 25 + out * (1 + 1)      # bias, ReLU
    assert by_kind["conv1x1"].flops == 2 * (16 * 16 * 32) * 16 + 16 * 16 * 32  # bias


def test_onnxruntime_nodes_land_on_the_same_kinds_and_flops(network):
    path, work, kernels, funcs = network
    tvm_flops, ort_flops = Counter(), Counter()
    for info, calls in zip(kernels.kernels, kernels.calls):
        tvm_flops[roofline.tvm_kind(info, funcs[info.name])] += info.flops * calls
    profile = roofline.ort_works(path, threads=1, runs=2, warmup=1, work_dir=work, node_cost_ms=0.002)
    assert profile.inflation > 0 and profile.residual > 0 and profile.node_cost_ms == 0.002
    for node in profile.works:
        ort_flops[node.kind] += node.flops
        assert node.ms > 0 and node.nbytes > 0
    for kind in ("conv3x3", "depthwise5x5", "conv1x1", "gconv3x3"):
        assert ort_flops[kind] == pytest.approx(tvm_flops[kind], rel=1e-6), kind
    # the classifier and the global pooling (rows of 32 and 64) are summed by TVM in GEMV_PARTS parts
    # of rows, the parts added last: parts x outputs more additions than onnxruntime's one pass
    for kind in ("dense", "pool"):
        info = next(i for i in kernels.kernels if roofline.tvm_kind(i, funcs[i.name]) == kind)
        assert tvm_flops[kind] - ort_flops[kind] == GEMV_PARTS * math.prod(info.params[-1].shape), kind


def test_profiled_nodes_lose_the_records_cost_then_sum_to_the_plain_network():
    """Two nodes, 1.0 and 0.1 ms as profiled, 0.02 ms of record each. Where the plain network takes
    what the nodes take less their records, that is all; where it is faster still, the rest comes
    off both in proportion. The profiled network's own time (the profiler also spends time between
    nodes) plays no part: the nodes always sum to the plain network."""
    nodes, residual = roofline.unprofiled_nodes([1.0, 0.1], 0.02, plain_ms=1.06)
    assert residual == pytest.approx(1.0) and nodes == pytest.approx([0.98, 0.08])
    nodes, residual = roofline.unprofiled_nodes([1.2, 0.12], 0.02, plain_ms=1.0)
    assert residual == pytest.approx(1.28) and nodes == pytest.approx([1.18 / 1.28, 0.10 / 1.28])
    assert sum(nodes) == pytest.approx(1.0)
    # a node shorter than its record keeps a tenth of its time before the scaling
    nodes, residual = roofline.unprofiled_nodes([0.01, 1.0], 0.02, plain_ms=0.981)
    assert residual == pytest.approx(1.0) and nodes == pytest.approx([0.001, 0.98])


def test_a_node_below_the_ridge_is_memory_bound_and_judged_by_its_level():
    levels = (roofline.Level("L2", 4 << 20, 100.0), roofline.Level("memory", 1 << 62, 20.0))
    limits = roofline.Limits(8, 2, "test", 2.0, "test", 1, 64.0, 50.0, 40.0, levels)
    depthwise = roofline.OrtNode("dw", "Conv", (("float", (1, 64, 56, 56)), ("float", (64, 1, 3, 3)),
                                               ("float", (64,))), (("float", (1, 64, 56, 56)),),
                                 {"activation": "Clip"})
    kind, flops, nbytes, _ = roofline.ort_node_work(depthwise)
    out = 64 * 56 * 56
    assert (kind, flops) == ("depthwise3x3", 2 * out * 9 + 3 * out)
    assert nbytes == 4 * (2 * out + 64 * 9 + 64)
    small = roofline.Work("onnxruntime", "dw", kind, "", 1, 0.1, flops, nbytes)
    big = roofline.Work("onnxruntime", "dw", kind, "", 1, 0.1, flops, nbytes * 100)
    assert limits.level_for(small.nbytes).name == "L2" and limits.level_for(big.nbytes).name == "memory"
    assert roofline.judge(small, limits).bound == "compute"      # 2.6 FLOP/B > 50 / 100
    verdict = roofline.judge(big, limits)
    assert verdict.bound == "memory" and math.isclose(verdict.pct_bw, 100 * big.gbps / 20.0)


def test_interquartile_mean_drops_a_preempted_run():
    assert roofline.interquartile_mean([1.0, 1.0, 1.1, 0.9, 1.0, 1.0, 9.0, 1.0]) == pytest.approx(1.0, abs=0.05)
    assert np.isfinite(roofline.interquartile_mean([2.0]))


def test_rounds_keep_each_kernels_median_in_the_first_rounds_order():
    def works(**ms):
        return [roofline.Work("tvm", name, "conv1x1", "", 2, t, 1e6, 100) for name, t in ms.items()]

    rounds = [works(a=1.0, b=2.0), works(b=2.2, a=5.0), works(a=1.2, b=1.8)]   # a preempted once
    merged = roofline.median_over_rounds(rounds)
    assert [w.name for w in merged] == ["a", "b"]
    assert [w.ms for w in merged] == pytest.approx([1.2, 2.0])
    assert roofline.summed_ms(merged) == pytest.approx(2 * (1.2 + 2.0))   # calls count


def test_the_roofline_floor_charges_each_kernel_its_slower_limit():
    levels = (roofline.Level("L2", 4 << 20, 100.0), roofline.Level("memory", 1 << 62, 20.0))
    limits = roofline.Limits(8, 2, "test", 2.0, "test", 1, 64.0, 50.0, 40.0, levels)
    gemm = roofline.Work("tvm", "gemm", "conv1x1", "", 3, 9.0, 5e6, 1 << 20)       # 0.1 ms of FLOPs > 0.01 of bytes
    gemv = roofline.Work("tvm", "fc", "dense", "", 1, 9.0, 1e6, 8 << 20)           # 8 MiB from memory: 0.42 ms
    assert roofline.roofline_ms(gemm, limits) == pytest.approx(5e6 / 50e9 * 1e3)
    assert roofline.roofline_ms(gemv, limits) == pytest.approx((8 << 20) / 20e9 * 1e3)
    floor = roofline.roofline_floor_ms([gemm, gemv], limits)
    assert floor == pytest.approx(3 * 0.1 + (8 << 20) / 20e6)
    assert floor < roofline.summed_ms([gemm, gemv])    # measured times (9 ms a call) lie above it


def test_in_model_jobs_time_each_kernel_inside_the_networks_run(network, tmp_path):
    """`--cache-mode in-model`: every job carries the network it runs inside (the exported model library,
    its kernel library beside it), and the profiler times a kernel there."""

    from lutnas.lowering import get_target
    from lutnas.lowering.targets import host_cpu_options
    from lutnas.profiler.runners import LocalRunner

    path = network[0]
    target = get_target("x86", **host_cpu_options())
    kernels = roofline.tvm_kernels(path, SHAPE, target, "lutnas-cpu", 1, 3, tmp_path, "in-model")
    assert kernels and all(k.job.cache_mode == "in-model" and k.job.model.library_path.is_file() for k in kernels)
    assert all(k.job.library_path.is_file() for k in kernels)
    works = roofline.time_tvm(kernels[:2], LocalRunner(target, "tvm", 1), "test")
    assert [w.name for w in works] == [k.name for k in kernels[:2]] and all(w.ms > 0 for w in works)
