"""PyTorch -> ONNX export and checked ONNX loading: the interchange format every later stage keys by.

The ONNX file is the hand-off between PyTorch and Apache TVM's Relax ONNX frontend (and
onnxruntime). Export is deterministic (same module -> byte-identical file), so later stages can key
compiled and measured work by the file's sha256. BatchNorm is folded into the preceding Conv, as
for inference deployment (the legacy TorchScript exporter does it in eval mode; `fold_batchnorm`
catches any Conv -> BatchNormalization pair it leaves behind).
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutnas.errors import OnnxError, error_line

if TYPE_CHECKING:
    import onnx
    from torch import nn

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"


def export_onnx(module: nn.Module, input_shape: tuple[int, ...], path: str | Path) -> Path:
    """Export `module` (eval mode, no grad) at `input_shape` to `path`; checked and shape-inferred."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(module).eval()
    example = torch.zeros(tuple(input_shape), dtype=torch.float32)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    proto = fold_batchnorm(proto)
    proto = _checked(proto, path)
    onnx.save(proto, str(path))
    return path


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Load, check (full check) and shape-infer an ONNX file; any failure -> `OnnxError`."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise OnnxError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(path))
    except (DecodeError, ValueError, RuntimeError) as err:
        raise OnnxError(f"{path}: not an ONNX protobuf ({error_line(err)})") from err
    return _checked(proto, path)


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def op_types(proto: onnx.ModelProto) -> list[str]:
    """Operator types in the main graph, domain-qualified outside the default domain."""
    return [_qualified(node) for node in proto.graph.node]


def _qualified(node: Any) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"


def _checked(proto: Any, path: Path) -> Any:
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
        return onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except Exception as err:  # checker and inference raise several unrelated exception types
        raise OnnxError(f"{path}: ONNX checker failed: {error_line(err)}") from err


def fold_batchnorm(proto: Any) -> Any:
    """Fold each BatchNormalization that is the only consumer of a Conv into the Conv's weights.

    w' = w * g / sqrt(v + eps) (per output channel), b' = (b - m) * g / sqrt(v + eps) + beta.
    Returns the model unchanged when there is nothing to fold.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    graph = proto.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    producer = {out: node for node in graph.node for out in node.output}
    removed: list[Any] = []
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization" and n.domain == ""]:
        conv = producer.get(bn.input[0])
        params = bn.input[1:5]
        if (
            conv is None
            or conv.op_type != "Conv"
            or consumers.get(conv.output[0]) != 1
            or len(bn.output) != 1
            or not all(p in inits for p in params)
            or conv.input[1] not in inits
            or (len(conv.input) > 2 and conv.input[2] not in inits)
        ):
            continue
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (numpy_helper.to_array(inits[p]).astype(np.float64) for p in params)
        scale = gamma / np.sqrt(var + eps)
        weight = numpy_helper.to_array(inits[conv.input[1]])
        bias = (
            numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64)
            if len(conv.input) > 2
            else np.zeros_like(mean)
        )
        w_name, b_name = f"{conv.name or conv.output[0]}_folded_w", f"{conv.name or conv.output[0]}_folded_b"
        new_w = (weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))).astype(weight.dtype)
        new_b = ((bias - mean) * scale + beta).astype(weight.dtype)
        graph.initializer.extend([numpy_helper.from_array(new_w, w_name), numpy_helper.from_array(new_b, b_name)])
        folded = helper.make_node(
            "Conv", [conv.input[0], w_name, b_name], [bn.output[0]], name=conv.name, domain=conv.domain
        )
        folded.attribute.extend(conv.attribute)
        graph.node.insert(list(graph.node).index(conv), folded)
        removed += [conv, bn]
    if not removed:
        return proto
    for node in removed:
        graph.node.remove(node)
    _drop_unused_initializers(graph)
    return proto


def _drop_unused_initializers(graph: Any) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
