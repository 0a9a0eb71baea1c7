"""Held-out check models: the bench's six families, 2 variants, at 96 px (a resolution not developed on),
weights drawn with a seed never used (20261203)."""
import sys
sys.path.insert(0, "/work/main/bench")
import torch
from pathlib import Path
from kernel_table_accuracy import build
from lutnas.lowering import export_onnx
torch.manual_seed(20261203)
out = Path("/tmp/k14/held/onnx"); out.mkdir(parents=True, exist_ok=True)
for fam in ("resnet", "shufflenet", "mobilenet", "vgg", "vit", "mixer"):
    for v in range(2):
        export_onnx(build(fam, v, 96).eval(), (1, 3, 96, 96), out / f"{fam}{v}-r96.onnx")
print(sorted(p.name for p in out.iterdir()))
