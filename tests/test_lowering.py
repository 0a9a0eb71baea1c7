"""Lowering stage: ONNX export, TVM builds for x86 / arm64 / cuda, error paths, `lutnas lower`."""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("tvm")

from onnx import TensorProto, helper, numpy_helper

from lutnas.errors import OnnxError, ToolchainError, UnknownNameError
from lutnas.lowering import (
    build,
    check_numerics,
    export_onnx,
    get_target,
    load_onnx,
    lower,
    ort_session,
    target_names,
)
from lutnas.lowering.onnx_io import fold_batchnorm

SHAPE = (1, 3, 32, 32)


def tiny_net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU6(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    )
    bn = net[1]
    with torch.no_grad():  # non-trivial statistics so that folding matters numerically
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return net


def elf_machine(path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF"
    return struct.unpack("<H", head[18:20])[0]


def single_op_model(op: str, domain: str = "") -> onnx.ModelProto:
    node = helper.make_node(op, ["input"], ["output"], domain=domain)
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in ("input", "output")]
    graph = helper.make_graph([node], "g", value[:1], value[1:])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


@pytest.fixture(scope="module")
def x86_artifact(tmp_path_factory):
    return lower(tiny_net(), SHAPE, "x86", tmp_path_factory.mktemp("x86"))


# ---- targets ----------------------------------------------------------------------------------


def test_targets_are_data_with_stable_hash():
    assert target_names() == ["arm64", "cuda", "x86"]
    x86 = get_target("x86")
    assert x86.target_json == {"kind": "llvm"} and "mcpu" not in x86.canonical_json()
    assert get_target("x86", mcpu="znver3").target_json["mcpu"] == "znver3"
    assert get_target("x86", mcpu="znver3").target_hash() != x86.target_hash()
    assert x86.target_hash() == get_target("x86").target_hash()
    cuda = get_target("cuda", arch="sm_86")
    assert json.loads(cuda.canonical_json()) == {"kind": "cuda", "arch": "sm_86", "host": {"kind": "llvm"}}
    assert cuda.tvm_target().kind.name == "cuda"
    assert get_target("arm64").cross_compiler == "aarch64-linux-gnu-g++"


def test_unknown_target_lists_valid():
    with pytest.raises(UnknownNameError, match="arm64, cuda, x86"):
        get_target("riscv")
    with pytest.raises(UnknownNameError, match="valid: mcpu"):
        get_target("x86", arch="sm_80")


def test_commands_build_x86_with_lutnas_cpu_for_this_host_by_default():
    from lutnas.lowering.pipeline import RecordedBuild, resolve_build
    from lutnas.lowering.targets import host_cpu_options

    host = host_cpu_options()["mcpu"]
    choice = resolve_build("x86")
    assert choice.pipeline == "lutnas-cpu" and choice.target.target_json == {"kind": "llvm", **host_cpu_options()}
    assert choice.target.runnable_here() == (True, "")   # even where a VM hides what the CPU's name implies
    assert f"-mcpu={host}, pipeline lutnas-cpu" in choice.describe() and "default" in choice.describe()
    named = resolve_build("x86", pipeline="tvm-default")    # still a named pipeline, plain llvm as before
    assert named.pipeline == "tvm-default" and named.target.target_json == {"kind": "llvm"} and not named.filled
    given = resolve_build("x86", mcpu="znver1")
    assert given.pipeline == "lutnas-cpu" and given.target.target_json["mcpu"] == "znver1"
    assert resolve_build("x86", runtime="onnxruntime").target.target_json == {"kind": "llvm"}  # builds nothing
    arm = resolve_build("arm64")    # NEON-sized rules; cross: no host -mcpu, the target JSON as before
    assert arm.pipeline == "lutnas-cpu" and arm.target.target_json == get_target("arm64").target_json
    assert "mcpu" not in arm.target.target_json and arm.describe().startswith("build: target arm64, pipeline lutnas-cpu")
    assert resolve_build("arm64", pipeline="tvm-default").pipeline == "tvm-default"
    # a table of the old arm64 default: the JSON it recorded (unchanged, so its target hash still matches)
    old_arm = RecordedBuild("arm64", '{"kind":"llvm","mattr":["+neon"],"mtriple":"aarch64-linux-gnu"}', "tvm-default")
    kept = resolve_build("arm64", recorded=old_arm)
    assert kept.pipeline == "tvm-default" and kept.target == get_target("arm64")
    assert kept.filled == ("the table's recorded build",)
    old = RecordedBuild("x86", '{"kind":"llvm"}', "tvm-default")
    assert resolve_build("x86", recorded=old).pipeline == "tvm-default"        # an old table keeps its build
    assert resolve_build("x86", pipeline="lutnas-cpu", recorded=old).target.target_json["mcpu"] == host
    with pytest.raises(UnknownNameError, match="valid: lutnas-cpu"):
        resolve_build("x86", pipeline="fastest")


def test_builds_for_a_known_thread_count_carry_num_cores():
    """A channels-last build for N threads records `num-cores` N in its target (its rules order some
    loops by it), round-trips through a table's recorded JSON and an artifact's manifest, and changes
    the target's identity; default and foreign-runtime builds do not carry it; a bad count is refused."""
    from lutnas.lowering.pipeline import RecordedBuild, resolve_build
    from lutnas.lowering.targets import target_from_json
    from lutnas.profiler.deploy import target_from_manifest

    one = resolve_build("x86", threads=1)
    assert one.target.target_json["num-cores"] == 1 and "for 1 thread(s)" in one.describe()
    assert one.target.target_hash() != resolve_build("x86").target.target_hash()
    assert "num-cores" not in resolve_build("x86", pipeline="tvm-default", threads=1).target.target_json
    assert "num-cores" not in resolve_build("x86", runtime="onnxruntime", threads=1).target.target_json
    assert "num-cores" not in resolve_build("cuda", threads=1).target.full_json()
    arm = resolve_build("arm64", threads=4).target
    assert arm.target_json["num-cores"] == 4
    for spec in (one.target, arm):
        assert target_from_json(spec.name, spec.canonical_json()) == spec
        assert target_from_manifest({"target": spec.to_dict()}) == spec
    kept = resolve_build("x86", recorded=RecordedBuild("x86", one.target.canonical_json(), "lutnas-cpu"), threads=2)
    assert kept.target == one.target     # a table's recorded build wins
    for bad in (0, -1, 2.5, True):
        with pytest.raises(UnknownNameError, match="num_cores"):
            get_target("x86", num_cores=bad)


# ---- ONNX export --------------------------------------------------------------------------------


def test_export_folds_batchnorm_and_is_byte_stable(tmp_path):
    net = tiny_net()
    a = export_onnx(net, SHAPE, tmp_path / "a.onnx")
    b = export_onnx(tiny_net(), SHAPE, tmp_path / "b.onnx")
    assert a.read_bytes() == b.read_bytes()
    proto = load_onnx(a)
    ops = [n.op_type for n in proto.graph.node]
    assert "BatchNormalization" not in ops and "Conv" in ops
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output"]
    assert net.training  # the caller's module is left as it was


def test_export_is_byte_stable_across_processes(tmp_path, x86_artifact):
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); from test_lowering import tiny_net, SHAPE;"
        "from lutnas.lowering import export_onnx; export_onnx(tiny_net(), SHAPE, sys.argv[1])"
    )
    path = tmp_path / "other.onnx"
    subprocess.run([sys.executable, "-c", code, str(path), str(Path(__file__).parent)], check=True)
    assert path.read_bytes() == x86_artifact.onnx_path.read_bytes()


def test_fold_batchnorm_on_unfolded_graph_matches_ort():
    rng = np.random.default_rng(1)
    arr = {
        "w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "cb": rng.standard_normal(4).astype(np.float32),
        "g": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "b": rng.standard_normal(4).astype(np.float32),
        "m": rng.standard_normal(4).astype(np.float32),
        "v": rng.uniform(0.5, 2.0, 4).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["input", "w", "cb"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["output"], epsilon=1e-3),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(v, k) for k, v in arr.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    import onnxruntime as ort

    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    run = lambda m: ort.InferenceSession(m.SerializeToString()).run(None, {"input": x})[0]
    before = run(model)
    folded = fold_batchnorm(model)
    assert [n.op_type for n in folded.graph.node] == ["Conv"]
    np.testing.assert_allclose(run(folded), before, rtol=1e-5, atol=1e-5)


# ---- ONNX errors --------------------------------------------------------------------------------


def test_malformed_and_missing_onnx(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(OnnxError, match="junk.onnx"):
        load_onnx(junk)
    with pytest.raises(OnnxError, match="not found"):
        load_onnx(tmp_path / "absent.onnx")
    with pytest.raises(OnnxError, match="junk.onnx"):
        build(junk, SHAPE, get_target("x86"))


def test_checker_failure_is_onnx_error(tmp_path):
    path = tmp_path / "bad.onnx"
    onnx.save(single_op_model("NoSuchOp"), str(path))
    with pytest.raises(OnnxError, match=r"bad\.onnx: ONNX checker failed.*NoSuchOp"):
        load_onnx(path)


@pytest.mark.parametrize(("op", "domain", "named"), [("Celu", "", "Celu"), ("Fancy", "com.example", "Fancy")])
def test_operator_tvm_cannot_import_is_named(tmp_path, op, domain, named):
    path = tmp_path / "op.onnx"
    onnx.save(single_op_model(op, domain), str(path))
    load_onnx(path)  # a valid ONNX file ...
    with pytest.raises(OnnxError, match=f"cannot import: .*{named}"):  # ... that TVM cannot import
        build(path, (1, 3, 8, 8), get_target("x86"))


# ---- builds -------------------------------------------------------------------------------------


def test_x86_lowering_matches_torch(x86_artifact):
    art = x86_artifact
    assert art.onnx_path.name == "model.onnx" and art.library_path.name == "model.x86.so"
    assert elf_machine(art.library_path) == 62
    report = art.numerics
    assert report.ok, report.summary
    assert [r.backend for r in report.results] == ["onnxruntime", "tvm:x86"]
    assert all(r.ran and r.max_abs <= report.atol + report.rtol * report.ref_scale for r in report.results)
    meta = json.loads((art.onnx_path.parent / "artifact.json").read_text())
    assert meta["target"]["target_hash"] == get_target("x86").target_hash()
    assert meta["pipeline"] == "tvm-default" and meta["onnx_sha256"] == art.onnx_sha256


def test_transcendentals_become_polynomials_that_match_torch(tmp_path):
    """`lutnas-cpu` legalizes float32 exp / sigmoid / erf / tanh / softmax as polynomials the vector
    unit computes (`lowering.fast_math`): no transcendental intrinsic is left in any kernel, and the
    outputs match torch's to float32 rounding over a wide input range."""
    from lutnas.lowering.kernels import list_kernels

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.proj = torch.nn.Conv2d(3, 16, 3, 1, 1), torch.nn.Linear(16, 16)

        def forward(self, x):
            h = torch.nn.functional.silu(self.conv(x))                     # sigmoid (x) x, fused into the conv
            t = torch.nn.functional.gelu(self.proj(h.flatten(2).transpose(1, 2)))   # erf
            return torch.softmax(t, dim=-1) + torch.tanh(t) + torch.exp(-t.abs())

    torch.manual_seed(0)
    net = Net().eval()
    path = export_onnx(net, (1, 3, 8, 8), tmp_path / "transcendental.onnx")
    kernels = list_kernels(path, (1, 3, 8, 8), get_target("x86"), "lutnas-cpu").kernels
    assert all(k.transcendentals == 0 for k in kernels), [k.pattern for k in kernels if k.transcendentals]
    assert any("fast_sigmoid" in k.pattern for k in kernels) and any("fast_erf" in k.pattern for k in kernels)
    built = build(path, (1, 3, 8, 8), get_target("x86"), pipeline="lutnas-cpu")
    x = 4.0 * torch.randn(1, 3, 8, 8)
    np.testing.assert_allclose(built.run(x.numpy()), net(x).detach().numpy(), rtol=1e-5, atol=2e-6)


def test_division_by_a_constant_becomes_a_multiplication_that_matches_torch(tmp_path):
    """`lutnas-cpu` legalizes a float32 division by a constant scalar (h-swish's / 6, a plain x / 3)
    as a multiplication by its reciprocal (`fast_math.RECIPROCAL_DIVIDE`): no kernel divides by a
    constant, a division by a tensor stays one, a zero divisor keeps TVM's division, and the output
    matches torch's."""
    import tvm

    from lutnas.lowering.fast_math import reciprocal_of
    from lutnas.lowering.tvm_build import import_model, lower_relax

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 16, 1)

        def forward(self, x):
            h = torch.nn.functional.hardswish(self.conv(x))
            return h / 3.0 + torch.nn.functional.hardsigmoid(h) / (h.abs() + 1.0)

    torch.manual_seed(0)
    net, shape = Net().eval(), (1, 3, 8, 8)
    path = export_onnx(net, shape, tmp_path / "divide.onnx")
    lowered = lower_relax(import_model(path, shape)[0], get_target("x86"), "lutnas-cpu")
    scripts = [f.script() for _, f in lowered.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    divisions = sum(script.count(" / ") for script in scripts)
    assert divisions == 1, divisions   # by h.abs() + 1, a tensor (TVM's division everywhere: 5)
    x = 4.0 * torch.randn(*shape)
    built = build(path, shape, get_target("x86"), pipeline="lutnas-cpu")
    np.testing.assert_allclose(built.run(x.numpy()), net(x).detach().numpy(), rtol=1e-5, atol=1e-6)

    class Broadcast(torch.nn.Module):   # a one-element divisor of higher rank than the tensor it divides
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("scale", torch.full((1, 1, 1), 3.0))

        def forward(self, x):
            return x.flatten(1) / self.scale

    path = export_onnx(Broadcast().eval(), shape, tmp_path / "broadcast.onnx")
    got = build(path, shape, get_target("x86"), pipeline="lutnas-cpu").run(x.numpy())
    want = Broadcast()(x).numpy()
    assert got.shape == want.shape == (1, 1, 3 * 8 * 8)
    np.testing.assert_allclose(got, want, rtol=1e-6)

    assert reciprocal_of(np.array(6.0, np.float32)) == pytest.approx(1 / 6, rel=1e-7)
    for kept in (np.array(0.0, np.float32), np.array(1e-40, np.float32), np.array(6.0),
                 np.array([2.0, 4.0], np.float32)):   # zero, an infinite reciprocal, float64, a tensor
        assert reciprocal_of(kept) is None, kept


def test_exported_x86_library_reloads_and_runs(x86_artifact):
    import tvm
    from tvm import relax

    vm = relax.VirtualMachine(tvm.runtime.load_module(str(x86_artifact.library_path)), tvm.cpu())
    x = np.random.default_rng(3).standard_normal(SHAPE, dtype=np.float32)
    out = vm["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    expected = ort_session(x86_artifact.onnx_path).run(None, {"input": x})[0]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_llvm_on_threads_builds_the_same_library(tmp_path):
    """`lowering.codegen`: kernels split over two LLVM modules (built on two threads, exported as two
    objects) compute bit for bit what one module does, in memory and from the exported library;
    `lower` checks numerics on the library it wrote."""
    from lutnas.lowering.codegen import compile_relax, export_executable
    from lutnas.lowering.frontend import import_onnx
    from lutnas.lowering.pipeline import build_pipeline
    from lutnas.lowering.tvm_build import BuiltModule

    path = export_onnx(tiny_net(), SHAPE, tmp_path / "tiny.onnx")
    target = get_target("x86", mcpu="znver1")
    tgt = target.tvm_target()
    x = np.random.default_rng(5).standard_normal(SHAPE, dtype=np.float32)
    outs = {}
    for jobs in (1, 2):
        exe = compile_relax(import_onnx(path, SHAPE).mod, tgt, build_pipeline("lutnas-cpu", tgt), jobs=jobs)
        assert len(exe.mod._collect_dso_modules()) == jobs       # one LLVM library per thread
        built = BuiltModule(exe, target, "lutnas-cpu", SHAPE)
        export_executable(exe, tmp_path / f"jobs{jobs}.so", jobs=jobs)
        outs[jobs] = [built.run(x), built.exported(tmp_path / f"jobs{jobs}.so").run(x)]
    for out in outs[1][1:] + outs[2]:
        np.testing.assert_array_equal(out, outs[1][0])
    art = lower(tiny_net(), SHAPE, target, tmp_path / "art", pipeline="lutnas-cpu")
    assert art.built.library_path == art.library_path and art.numerics.ok


def _scaled_copy(n: int, unroll: int):
    """A PrimFunc B = 2 A over `n` floats, its loop split by `unroll` and the inner loop unrolled (1: as is)."""
    import tvm
    from tvm import te

    a = te.placeholder((n,), name="A")
    b = te.compute((n,), lambda i: a[i] * 2.0, name="B")
    sch = tvm.s_tir.Schedule(te.create_prim_func([a, b]))
    if unroll > 1:
        (loop,) = sch.get_loops(sch.get_sblock("B"))
        sch.unroll(sch.split(loop, factors=[None, unroll])[1])
    return sch.mod["main"]


def test_llvm_threads_get_kernels_of_about_equal_code():
    """`codegen.split_module` deals kernels by the code their unrolled loops spell out, largest first:
    one kernel of 64 unrolled stores gets a thread to itself while three one-store kernels share the
    other (round-robin put one of them beside it)."""
    import tvm

    from lutnas.lowering.codegen import FUNCTION_COST_STORES, split_module, unrolled_stores

    big = _scaled_copy(256, 64)
    assert unrolled_stores(big.body) == 64 and unrolled_stores(_scaled_copy(256, 1).body) == 1
    funcs = {"small0": _scaled_copy(64, 1), "big": big, "small1": _scaled_copy(64, 1), "small2": _scaled_copy(64, 1)}
    assert 3 * (1 + FUNCTION_COST_STORES) < 64 + FUNCTION_COST_STORES + 1 + FUNCTION_COST_STORES
    mod = tvm.IRModule({tvm.ir.GlobalVar(name): f.with_attr("global_symbol", name) for name, f in funcs.items()})
    parts = [sorted(gv.name_hint for gv, _ in part.functions_items()) for part in split_module(mod, 2)]
    assert sorted(parts) == [["big"], ["small0", "small1", "small2"]]
    assert len(split_module(mod, 8)) == 4       # never more parts than kernels


def test_numerics_detects_a_wrong_model(x86_artifact):
    other = tiny_net()
    with torch.no_grad():
        other[-1].bias.add_(1.0)  # the ONNX file no longer describes this module
    report = check_numerics(other, x86_artifact.onnx_path, x86_artifact.built)
    assert not report.ok and "FAIL" in report.summary


def test_numerics_flags_input_independent_output(tmp_path, x86_artifact):
    assert not x86_artifact.numerics.weak
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2))
    with torch.no_grad():
        net[-1].weight.zero_()  # output = bias, whatever the input
    report = check_numerics(net, export_onnx(net, (1, 3, 8, 8), tmp_path / "c.onnx"), input_shape=(1, 3, 8, 8))
    assert report.ok and report.weak and "weak check" in report.summary


def test_arm64_lowering_is_aarch64_elf_with_same_onnx(tmp_path, x86_artifact):
    art = lower(tiny_net(), SHAPE, "arm64", tmp_path)
    assert elf_machine(art.library_path) == 183
    assert art.onnx_path.read_bytes() == x86_artifact.onnx_path.read_bytes()
    tvm_result = art.numerics.results[-1]
    assert not tvm_result.ran and "cross target" in tvm_result.note
    assert art.numerics.ok  # onnxruntime still checked


def test_cuda_lowering_compiles_without_gpu(tmp_path):
    art = lower(tiny_net(), SHAPE, get_target("cuda", arch="sm_80"), tmp_path)
    assert art.library_path.stat().st_size > 0 and elf_machine(art.library_path) == 62
    assert art.numerics.results[0].ok


def test_missing_cross_compiler_names_package(tmp_path):
    spec = dataclasses.replace(get_target("arm64"), cross_compiler="aarch64-nonexistent-g++")
    built = build(export_onnx(tiny_net(), SHAPE, tmp_path / "m.onnx"), SHAPE, spec)
    with pytest.raises(ToolchainError, match="g\\+\\+-aarch64-linux-gnu"):
        built.export_library(tmp_path / "m.so")


# ---- CLI ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_lower(tmp_path):
    """`lutnas lower` without --pipeline / --mcpu builds lutnas-cpu for this host's CPU, and says so."""
    from click.testing import CliRunner

    spaces = pytest.importorskip("lutnas.spaces")
    from lutnas.cli import cli

    space = spaces.get_space("proxyless")
    arch = space.sample(np.random.default_rng(0))
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(spaces.dump_archs("proxyless", [arch])))
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["lower", "--space", "proxyless", "--arch", str(archs), "--resolution", "32", "--num-classes", "10", "--target", "x86"]
    res = runner.invoke(cli, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "numerics ok" in res.output
    assert (out / "model.onnx").is_file() and (out / "model.x86.so").is_file()
    from lutnas.lowering.targets import host_cpu_options

    host = host_cpu_options()["mcpu"]
    assert f"build: target x86 -mcpu={host}, pipeline lutnas-cpu (x86's default pipeline" in res.output
    recorded = json.loads((out / "artifact.json").read_text())
    assert recorded["pipeline"] == "lutnas-cpu" and recorded["target"]["target"]["mcpu"] == host

    bad = runner.invoke(cli, [*args[:-1], "riscv", "--out", str(out)])
    assert isinstance(bad.exception, UnknownNameError) and "arm64, cuda, x86" in str(bad.exception)
