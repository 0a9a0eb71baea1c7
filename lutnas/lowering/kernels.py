"""A compiled model's kernels as TVM's own fusion made them, each with a structural signature.

A kernel is a TIR PrimFunc that the lowered Relax `main` calls: one fused group of operators after
the pipeline's Relax passes (legalize, fuse, schedule, ...), exactly what the VM executes. Its
identity (`KernelInfo.signature`) is the structural hash of that PrimFunc with its name removed
(`tvm_ffi.structural_hash`; variable and buffer names do not enter it), so the same operators at
the same shapes, dtypes, attributes, layout and schedule give the same signature in any model,
and a table keyed by it dedupes kernels across models. The readable part (`pattern`, `kind`,
parameter shapes, FLOPs) describes the kernel for people and for the learned fallback model; it
is never the identity.

`build_with_kernels` compiles a model once and writes three files side by side: the model's Relax
VM library (`<stem>.so`, the same library `tvm_build.build` makes), the kernels alone
(`<stem>.kernels.so`: the executable's compiled TIR module, whose functions are top-level, so
each one has a `time_evaluator`, also on an RPC board) and the kernel list (`<stem>.kernels.json`).

`probe_onnx(n)` writes the model the VM's own per-call cost is measured with: a chain of `n`
MatMuls of a 1x4 row by a 4x4 matrix, each its own kernel call (matmul chains do not fuse).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lutnas.errors import LutnasError, OnnxError
from lutnas.lowering.kernel_work import kernel_work
from lutnas.lowering.pipeline import DEFAULT_PIPELINE
from lutnas.lowering.targets import TargetSpec

# 2: each kernel carries its transcendental evaluations counted in its TIR; 3: also its reduction
# and elementwise arithmetic (`kernel_work`). Older lists and stored tables are still read (the
# counts they lack: None); cached older lists are compiled again (`kernel_list_is_current`).
KERNELS_FORMAT = 3
READABLE_KERNELS_FORMATS = (1, 2, 3)

# Kernel kinds, in priority order: a fused kernel is of the kind of the first anchor op it holds.
KIND_ANCHORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv", ("conv1d", "conv2d", "conv3d", "conv1d_transpose", "conv2d_transpose")),
    ("matmul", ("matmul", "dense", "batch_matmul")),
    ("pool", ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
              "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool2d")),
    ("softmax", ("softmax", "log_softmax")),
    ("norm", ("layer_norm", "group_norm", "batch_norm", "rms_norm", "instance_norm")),
    ("reduce", ("mean", "sum", "max", "min", "prod", "variance", "std", "argmax", "argmin")),
    ("concat", ("concatenate", "concat")),
    ("layout", ("transpose", "permute_dims", "reshape", "pad", "strided_slice", "take", "split",
                "layout_transform", "expand_dims", "squeeze", "broadcast_to", "flip", "repeat", "tile")),
)
KINDS = tuple(kind for kind, _ in KIND_ANCHORS) + ("elementwise",)


@dataclass(frozen=True)
class KernelParam:
    """One buffer argument of a kernel (inputs first, the output last, as Relax passes them)."""

    shape: tuple[int, ...]
    dtype: str

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def bits(self) -> int:
        """Bits of one element (bool counts as a byte, as it is stored)."""
        return int(re.sub(r"\D", "", self.dtype) or 32) if self.dtype != "bool" else 8

    @property
    def nbytes(self) -> int:
        return self.elements * max(1, self.bits // 8)

    def text(self) -> str:
        return "x".join(map(str, self.shape)) or "scalar"


@dataclass(frozen=True)
class KernelInfo:
    """One fused kernel: its signature (identity) and what a person or a regressor reads of it."""

    signature: str                 # 16 hex digits: structural hash of the PrimFunc, name removed
    name: str                      # the function's name in this model's library
    pattern: str                   # operators it fuses: name without `fused_` and numeric suffixes
    kind: str                      # one of KINDS
    params: tuple[KernelParam, ...]
    flops: float                   # TVM's estimate (`estimate_tir_flops`) of one call
    # `kernel_work.kernel_work` of one call (None: a kernel listed by format 1)
    transcendentals: int | None = None   # transcendental intrinsic evaluations
    reduction_ops: int | None = None     # arithmetic in reduction blocks (a conv's multiply-adds)
    elementwise_ops: int | None = None   # arithmetic elsewhere (epilogues, polynomials), hoisting-aware

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.params)

    def summary(self) -> str:
        ins = ",".join(p.text() for p in self.params[:-1])
        dtypes = sorted({p.dtype for p in self.params})
        return (f"{self.pattern} {ins}->{self.params[-1].text() if self.params else '?'} "
                f"{'/'.join(dtypes)} {self.flops / 1e6:.3g} MFLOP")

    def to_dict(self) -> dict[str, Any]:
        out = {"signature": self.signature, "name": self.name, "pattern": self.pattern, "kind": self.kind,
               "params": [[list(p.shape), p.dtype] for p in self.params], "flops": self.flops}
        work = {"transcendentals": self.transcendentals, "reduction_ops": self.reduction_ops,
                "elementwise_ops": self.elementwise_ops}
        return {**out, **{k: v for k, v in work.items() if v is not None}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KernelInfo:
        params = tuple(KernelParam(tuple(int(d) for d in shape), str(dtype)) for shape, dtype in data["params"])
        work = [None if data.get(k) is None else int(data[k])
                for k in ("transcendentals", "reduction_ops", "elementwise_ops")]
        return cls(str(data["signature"]), str(data["name"]), str(data["pattern"]), str(data["kind"]), params,
                   float(data["flops"]), *work)


@dataclass(frozen=True)
class ModelKernels:
    """Every kernel one model calls (unique by signature, in first-call order) and its VM work."""

    kernels: tuple[KernelInfo, ...]
    calls: tuple[int, ...]         # calls per model run of each kernel, aligned with `kernels`
    vm_calls: int                  # VM call instructions per run: kernel calls plus runtime builtins
    input_shape: tuple[int, ...]
    pipeline: str

    @property
    def kernel_calls(self) -> int:
        return sum(self.calls)

    def calls_by_signature(self) -> dict[str, int]:
        return {k.signature: c for k, c in zip(self.kernels, self.calls)}

    def to_dict(self) -> dict[str, Any]:
        return {"format": KERNELS_FORMAT, "kernels": [k.to_dict() for k in self.kernels], "calls": list(self.calls),
                "vm_calls": self.vm_calls, "input_shape": list(self.input_shape), "pipeline": self.pipeline}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelKernels:
        if data.get("format") not in READABLE_KERNELS_FORMATS:
            raise LutnasError(f"kernel list format {data.get('format')!r}; this lutnas reads "
                              f"{', '.join(map(str, READABLE_KERNELS_FORMATS))}")
        return cls(tuple(KernelInfo.from_dict(k) for k in data["kernels"]), tuple(int(c) for c in data["calls"]),
                   int(data["vm_calls"]), tuple(int(d) for d in data["input_shape"]), str(data["pipeline"]))


# -- reading kernels off a lowered module ----------------------------------------------------------
def enumerate_kernels(lowered: Any, input_shape: tuple[int, ...], pipeline: str) -> ModelKernels:
    """The kernels the lowered module's `main` calls, merged by signature, with call counts."""
    import tvm

    funcs = {gv: f for gv, f in lowered.functions_items() if isinstance(f, tvm.tirx.PrimFunc)}
    infos: dict[str, KernelInfo] = {}
    calls: dict[str, int] = {}
    by_var: dict[Any, KernelInfo] = {}
    vm_calls = 0
    for value in _main_calls(lowered):
        vm_calls += 1
        op = value.op
        if not isinstance(op, tvm.ir.GlobalVar) or op not in funcs:
            continue
        if op not in by_var:
            by_var[op] = kernel_info(op.name_hint, funcs[op])
        info = infos.setdefault(by_var[op].signature, by_var[op])
        calls[info.signature] = calls.get(info.signature, 0) + 1
    order = tuple(infos.values())
    return ModelKernels(order, tuple(calls[k.signature] for k in order), vm_calls, tuple(input_shape), pipeline)


def _main_calls(lowered: Any) -> list[Any]:
    """Every call the VM makes in `main` (each binding whose value is a call), in program order."""
    from tvm import relax

    main = lowered["main"]
    out = []
    for block in main.body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, relax.If):
                raise LutnasError("the model's main function branches; per-kernel tables need straight-line graphs")
            if isinstance(value, relax.Call):
                out.append(value)
    return out


def kernel_info(name: str, func: Any) -> KernelInfo:
    """Signature and description of one PrimFunc; every parameter must be a static-shaped buffer."""
    import tvm
    import tvm_ffi
    from tvm.s_tir.analysis import estimate_tir_flops

    params = []
    for p in func.params:
        try:
            shape = tuple(int(d) for d in p.shape)
        except (AttributeError, TypeError):
            raise LutnasError(f"kernel {name}: parameter {p} is not a static-shaped buffer "
                              "(dynamic shapes are not supported)") from None
        params.append(KernelParam(shape, str(p.dtype)))
    signature = f"{tvm_ffi.structural_hash(func.without_attr('global_symbol')):016x}"
    try:
        flops = float(estimate_tir_flops(tvm.IRModule({"main": func})))
    except Exception:  # noqa: BLE001 -- TVM's estimator refuses some loop nests; FLOPs are a feature only
        flops = 0.0
    pattern = kernel_pattern(name)
    work = kernel_work(func)
    return KernelInfo(signature, name, pattern, kernel_kind(pattern), tuple(params), flops,
                      work.transcendentals, work.reduction_ops, work.elementwise_ops)


def kernel_pattern(name: str) -> str:
    """`fused_conv2d1_add_relu_add1_prepacked` -> `conv2d_add_relu_add_prepacked`."""
    stem = name.removeprefix("fused_")
    return "_".join(re.sub(r"\d+$", "", token) or token for token in stem.split("_"))


def kernel_kind(pattern: str) -> str:
    for kind, anchors in KIND_ANCHORS:
        if any(re.search(rf"(^|_){re.escape(a)}(_|$)", pattern) for a in anchors):
            return kind
    return "elementwise"


# -- compiling a model with its kernels ------------------------------------------------------------
def kernel_library_path(library: str | Path) -> Path:
    library = Path(library)
    return library.with_name(f"{library.stem}.kernels.so")


def kernel_list_path(library: str | Path) -> Path:
    library = Path(library)
    return library.with_name(f"{library.stem}.kernels.json")


def kernel_list_is_current(library: str | Path) -> bool:
    """Whether the library's kernel list exists in this lutnas's format (an older one is rebuilt by
    the compile cache: its kernels lack what the learned model now reads)."""
    try:
        return json.loads(kernel_list_path(library).read_text()).get("format") == KERNELS_FORMAT
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def read_kernel_list(library: str | Path) -> ModelKernels:
    path = kernel_list_path(library)
    try:
        return ModelKernels.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise LutnasError(f"{path}: unreadable kernel list ({err}); delete it to rebuild") from None


def build_with_kernels(model: Any, input_shape: tuple[int, ...], target: TargetSpec, library: str | Path,
                       pipeline: str = DEFAULT_PIPELINE, tuning_db: str | Path | None = None) -> ModelKernels:
    """Compile once; write the model library, the kernel library and the kernel list (see module doc)."""
    from lutnas.lowering.tvm_build import import_model, lower_relax

    mod, input_name = import_model(model, input_shape)
    lowered = lower_relax(mod, target, pipeline, tuning_db)
    return export_with_kernels(lowered, input_name, input_shape, target, library, pipeline)


def export_with_kernels(lowered: Any, input_name: str, input_shape: tuple[int, ...], target: TargetSpec,
                        library: str | Path, pipeline: str = DEFAULT_PIPELINE) -> ModelKernels:
    """`build_with_kernels` from an already lowered module (`tvm_build.lower_relax`), for a caller that
    also reads the lowered functions."""
    from lutnas.lowering.tvm_build import BuiltModule, compile_lowered

    kernels = enumerate_kernels(lowered, input_shape, pipeline)
    executable = compile_lowered(lowered, target)
    library = BuiltModule(executable, target, pipeline, tuple(input_shape), input_name).export_library(library)
    if kernels.kernels:
        export_module(executable.mod.imports[0], kernel_library_path(library), target)
    kernel_list_path(library).write_text(json.dumps(kernels.to_dict(), indent=1) + "\n")
    return kernels


def list_kernels(model: Any, input_shape: tuple[int, ...], target: TargetSpec, pipeline: str = DEFAULT_PIPELINE,
                 tuning_db: str | Path | None = None) -> ModelKernels:
    """The kernels `build_with_kernels` would compile, without code generation (seconds, not minutes)."""
    from lutnas.lowering.tvm_build import import_model, lower_relax

    mod, _ = import_model(model, input_shape)
    return enumerate_kernels(lower_relax(mod, target, pipeline, tuning_db), input_shape, pipeline)


def export_module(module: Any, path: Path, target: TargetSpec) -> Path:
    """Export a compiled runtime module as a shared library linked by the target's compiler."""
    from lutnas.errors import ToolchainError

    fcompile = None
    if target.cross_compiler:
        from tvm.support.cc import cross_compiler

        fcompile = cross_compiler(target.compiler())
    try:
        module.export_library(str(path), fcompile=fcompile)
    except Exception as err:  # noqa: BLE001 -- TVM wraps compiler failures in its own errors
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise ToolchainError(f"linking {path.name} failed: {first}") from None
    return path


# -- the model's input, and the VM-overhead probe ---------------------------------------------------
def static_input_shape(proto: Any, name: str) -> tuple[int, ...]:
    """The single graph input's shape; `OnnxError` naming the input when a dimension is not fixed."""
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise OnnxError(f"{name}: expected one graph input, found {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    if not dims or any(not d.HasField("dim_value") or d.dim_value < 1 for d in dims):
        shown = ",".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)
        raise OnnxError(f"{name}: input {inputs[0].name!r} has shape [{shown}]; per-kernel tables need a "
                        "fixed input shape (export the model with static dimensions)")
    return tuple(int(d.dim_value) for d in dims)


PROBE_WIDTH = 4


def probe_onnx(n_calls: int, path: str | Path) -> Path:
    """A chain of `n_calls` MatMuls (1 x PROBE_WIDTH by PROBE_WIDTH x PROBE_WIDTH): tiny kernels,
    one call each, so the model's time is mostly the VM's own per-call cost."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if n_calls < 1:
        raise LutnasError(f"probe needs at least one call, not {n_calls}")
    w = numpy_helper.from_array(np.eye(PROBE_WIDTH, dtype=np.float32), "w")
    names = ["input"] + [f"h{i}" for i in range(1, n_calls)] + ["output"]
    nodes = [helper.make_node("MatMul", [names[i], "w"], [names[i + 1]]) for i in range(n_calls)]
    graph = helper.make_graph(nodes, f"probe{n_calls}",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, PROBE_WIDTH])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, PROBE_WIDTH])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
