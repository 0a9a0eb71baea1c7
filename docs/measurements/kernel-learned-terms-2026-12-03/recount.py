"""Re-list run10's models and zoo with the TIR transcendental count; save signature -> count."""
import sys, json
from pathlib import Path
from lutnas.lowering.kernels import list_kernels
from lutnas.lowering.pipeline import resolve_build
from lutnas.latency_tables.kernel_table import read_models
run = Path(sys.argv[1])
build = resolve_build("x86")
paths = sorted((run / "onnx").glob("*.onnx")) + sorted(Path("/tmp/k14/cache/blocks/zoo").glob("*.onnx"))
counts = {}
for m in read_models(paths):
    for k in list_kernels(m.path, m.input_shape, build.target, build.pipeline).kernels:
        counts[k.signature] = [k.transcendentals, k.reduction_ops, k.elementwise_ops]
print(len(paths), len(counts))
(run / "counts.json").write_text(json.dumps(counts))
