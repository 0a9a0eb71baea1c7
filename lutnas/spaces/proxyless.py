"""ProxylessNAS mobile space (Cai et al., ICLR 2019): MobileNetV2 backbone, 21 searchable MBConv layers.

Stem 3x3 s2 32ch, fixed MBConv e1 k3 -> 16ch, six stages, head 1x1 -> 1280 + pool + FC; ReLU6, BN.
Each layer picks kernel {3,5,7} x expand {3,6}; layers that keep their shape may also be `zero` (skipped).
"""

from __future__ import annotations

from lutnas.spaces.base import Choice, FixedDef, HeadDef, SearchSpace, StageDef, make_layers

_CHOICES = tuple(Choice(f"k{k}_e{e}", "mbconv", k, e) for k in (3, 5, 7) for e in (3, 6))
_STAGES = [StageDef(c, n, s, "relu6") for c, n, s in
           [(24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1)]]

SPACE = SearchSpace(
    name="proxyless",
    description="ProxylessNAS mobile: MBConv k{3,5,7} x e{3,6} + zero, ReLU6",
    stem=FixedDef("conv", 32, 3, 2, "relu6"),
    fixed=(FixedDef("mbconv", 16, 3, 1, "relu6", expand=1),),
    layers=make_layers(_STAGES, _CHOICES, Choice("zero", None), in_ch=16),
    head=HeadDef(1280, "relu6"),
    default_resolution=224,
    resolutions=(128, 160, 192, 224),
)
